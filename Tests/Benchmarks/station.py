#!/usr/bin/env python3
"""Station integrity benchmarks on real dalabad processes (issue 9), each a ratio in the same run:

1. Queue flood: 2,000 requests, 16 at a time; p50/p99 accept latency of the first and the last 200 (goal: last within
   1.5x of first), and RSS idle / after the flood / after stop-all (goal: back within 10 MB of idle).
2. Fresh-file cut-in: an emergency naming a never-measured 10-minute file, intake -> first frame handed to ALSA, side by
   side with the same for a measured file (goal: <= one period + 2 ms).
3. Commit cost: fsync/fdatasync calls per second of play, counted with strace -c over a 10 s play on the paced
   virtual card (goal: <= 1), side by side with the sqlite3 CLI committing one row a second with synchronous=FULL.

Usage: Tests/Benchmarks/station.sh (builds, then runs this with the built binaries).
"""
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release")
TOKEN = "bench-operator-token-0123456789"


class Daemon:
    def __init__(self, name, device="null", env=None, extra="", prefix=None):
        self.prefix = prefix or []
        self.dir = tempfile.mkdtemp(prefix=f"dalaba-bench-{name}-")
        self.audio = os.path.join(self.dir, "audio")
        os.makedirs(self.audio)
        for signal_file in ("chime.wav", "attention.wav"):
            shutil.copy(os.path.join("Audio", signal_file), self.audio)
        self.config = os.path.join(self.dir, "dalaba.toml")
        with open(self.config, "w") as f:
            f.write(f"""log-level = "debug"
[device]
name = "{device}"
[station]
state-directory = "{self.dir}/state"
audio-directory = "{self.audio}"
schedules-directory = "{self.dir}/schedules"
[http]
max-queue = 100000
[[tokens]]
name = "bench"
token = "{TOKEN}"
role = "admin"
{extra}
""")
        self.env = dict(os.environ, **(env or {}))
        self.log = open(os.path.join(self.dir, "dalabad.log"), "w+")
        self.process = None
        self.port = None

    def start(self):
        self.process = subprocess.Popen(
            self.prefix + [f"{BIN}/dalabad", "--config", self.config, "--listen", "127.0.0.1:0"],
            stdout=self.log, stderr=self.log, env=self.env, cwd=self.dir)
        listen = os.path.join(self.dir, "state", "listen")
        deadline = time.time() + 60
        while time.time() < deadline:
            if os.path.exists(listen):
                text = open(listen).read().strip()
                if text:
                    self.port = int(text.rsplit(":", 1)[1])
                    try:
                        if self.request("GET", "/v1/status")[0] == 200:
                            return
                    except OSError:
                        pass
            time.sleep(0.05)
        raise RuntimeError("dalabad did not start:\n" + open(self.log.name).read())

    def request(self, method, path, body=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response.status, data

    def rss_mb(self):
        for line in open(f"/proc/{self.pid()}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0

    def pid(self):
        """The daemon's own pid (from its state-directory lock), also when it runs under strace."""
        return int(open(os.path.join(self.dir, "state", "dalabad.lock")).read().strip())

    def counter(self, name):
        _, data = self.request("GET", "/metrics")
        match = re.search(rf"^{name} ([\d.e+]+)$", data.decode(), re.M)
        return float(match.group(1)) if match else 0.0

    def stop(self):
        if self.process and self.process.poll() is None:
            os.kill(self.pid(), signal.SIGTERM)
            self.process.wait(timeout=30)

    def log_text(self):
        self.log.flush()
        return open(self.log.name).read()


def tone(path, seconds, frequency=440):
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "2", "-b", "16", "-e", "signed-integer", path,
                    "synth", str(seconds), "sine", str(frequency)], check=True)


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def flood():
    daemon = Daemon("flood")
    tone(os.path.join(daemon.audio, "notice.wav"), 1)
    daemon.start()
    # Something long on air so the flood waits in the queue, as it would on a busy station.
    tone(os.path.join(daemon.audio, "long.wav"), 600)
    daemon.request("POST", "/v1/announcements", {"audio": "long.wav", "kind": "rumor-rebuttal", "id": "on-air"})
    time.sleep(0.5)
    idle = daemon.rss_mb()
    latencies = [0.0] * 2000
    statuses = [0] * 2000

    def one(i):
        start = time.perf_counter()
        status, _ = daemon.request("POST", "/v1/announcements", {"audio": "notice.wav", "kind": "policy", "id": f"flood-{i}"})
        latencies[i] = time.perf_counter() - start
        statuses[i] = status

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(2000)))
    flooded = daemon.rss_mb()
    daemon.request("POST", "/v1/stop-all", {})
    time.sleep(1)
    after = daemon.rss_mb()
    daemon.stop()
    first, last = latencies[:200], latencies[-200:]
    accepted = sum(1 for s in statuses if s == 201)
    print(f"BENCH flood: {accepted}/2000 accepted; first 200 p50 {statistics.median(first) * 1000:.1f} ms p99 "
          f"{percentile(first, 99) * 1000:.1f} ms; last 200 p50 {statistics.median(last) * 1000:.1f} ms p99 "
          f"{percentile(last, 99) * 1000:.1f} ms; last/first p50 ratio {statistics.median(last) / statistics.median(first):.2f} "
          f"(goal <= 1.5)")
    print(f"BENCH flood: RSS idle {idle:.1f} MB, after the flood {flooded:.1f} MB, after stop-all {after:.1f} MB "
          f"(after - idle {after - idle:+.1f} MB, goal <= 10)")


def cut_in():
    daemon = Daemon("cutin")
    fresh = os.path.join(daemon.audio, "fresh.wav")
    measured = os.path.join(daemon.audio, "measured.wav")
    tone(fresh, 600, 523)
    tone(measured, 600, 659)
    daemon.start()
    # Measure one file first, as intake does for every non-emergency item.
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    status, body = daemon.request("POST", "/v1/announcements", {"audio": "measured.wav", "kind": "policy", "id": "warm", "notBefore": later})
    assert status == 201, body
    daemon.request("DELETE", "/v1/announcements/warm")
    results = {}
    for name in ("fresh", "measured"):
        daemon.request("POST", "/v1/announcements", {"audio": f"{name}.wav", "kind": "emergency", "level": 1, "id": f"cut-{name}"})
        deadline = time.time() + 30
        while time.time() < deadline:
            match = re.search(rf'since-intake-us=(\d+).*\bid=cut-{name}\b|\bid=cut-{name}\b.*since-intake-us=(\d+)', daemon.log_text())
            if match:
                results[name] = int(match.group(1) or match.group(2)) / 1000
                break
            time.sleep(0.05)
        daemon.request("POST", "/v1/stop-all", {})
    daemon.stop()
    period = re.search(r'period=(\d+)', daemon.log_text())
    period_ms = int(period.group(1)) / 48 if period else float("nan")
    print(f"BENCH cut-in: intake -> first frame handed: never-measured 10-minute file {results.get('fresh', float('nan')):.2f} ms, "
          f"measured file {results.get('measured', float('nan')):.2f} ms (ratio {results.get('fresh', 0) / max(results.get('measured', 1e-9), 1e-9):.2f}); "
          f"goal <= one period ({period_ms:.1f} ms) + 2 ms")


def commits():
    if not shutil.which("strace"):
        print("BENCH commits: strace is not installed (apt-get install strace)")
        return
    server = f"dalaba-bench-{os.getpid()}"
    jackd = subprocess.Popen(["jackd", "--no-realtime", "-n", server, "-d", "dummy", "-r", "48000", "-p", "256"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        subprocess.run(["jack_wait", "-s", server, "-w", "-t", "10"], check=True, stdout=subprocess.DEVNULL)
        # Traced from its start (attaching later misses threads made afterwards); fsyncs counted over 10 s of play.
        trace_path = tempfile.mktemp(prefix="dalaba-bench-strace-")
        daemon = Daemon("commits", device="plug:jack", env={"JACK_DEFAULT_SERVER": server},
                        prefix=["strace", "-f", "-ttt", "-e", "trace=fsync,fdatasync,pwrite64", "-o", trace_path])
        tone(os.path.join(daemon.audio, "ten.wav"), 12)
        daemon.start()
        daemon.request("POST", "/v1/announcements", {"audio": "ten.wav", "kind": "routine", "id": "ten"})
        time.sleep(1)
        commits_before = daemon.counter("dalaba_store_commits_total")
        window_start = time.time()
        time.sleep(10)
        window_end = time.time()
        commits = daemon.counter("dalaba_store_commits_total") - commits_before
        daemon.stop()
        # A call strace saw start ("fdatasync(" or "<... fdatasync resumed>" counts once, by its start).
        stamps = [float(m.group(1)) for m in re.finditer(r'^\d+\s+(\d+\.\d+)\s+f(?:data)?sync\(', open(trace_path).read(), re.M)]
        calls = sum(1 for t in stamps if window_start <= t < window_end)
        # The peer: the sqlite3 CLI committing one row a second in WAL mode with synchronous=FULL, as the station should.
        db = os.path.join(daemon.dir, "peer.sqlite")
        script = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t(x);" + "".join(
            f"INSERT INTO t VALUES({i});" for i in range(10))
        peer = subprocess.run(["strace", "-f", "-c", "-e", "trace=fsync,fdatasync", "sqlite3", db, script], capture_output=True, text=True)
        peer_calls = sum(int(m.group(1)) for m in re.finditer(r'^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?f(?:data)?sync', peer.stderr, re.M))
        print(f"BENCH commits: dalabad {commits:.0f} commits and {calls} fsyncs in 10 s of play = {calls / 10:.1f} fsyncs per second (goal <= 1); "
              f"sqlite3 CLI, 10 one-row WAL commits at synchronous=FULL: {peer_calls} fsyncs "
              f"({peer_calls / 10:.1f} per commit); ratio dalabad per second / sqlite3 per commit {calls / 10 / max(peer_calls / 10, 1e-9):.2f}")
    finally:
        jackd.terminate()
        jackd.wait()


if __name__ == "__main__":
    which = sys.argv[2:] or ["flood", "cut_in", "commits"]
    for name in which:
        globals()[name]()
