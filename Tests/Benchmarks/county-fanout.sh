#!/usr/bin/env bash
# Emergency fan-out to a county of VILLAGES villages: one `POST /v1/announcements` (a level-1 emergency, spoken at the
# head-end) to a real dalaba-county, through a real Mosquitto (password file and ACL per village), received and queued at
# every village. REAL villages are real dalabad processes on the `null` device, each with its own state directory,
# credentials and region code (their `received`/`queued` receipts in PostgreSQL give the times); the rest run in
# one VillageSwarm process, as the issue asks (BENCH_SWARMS=N splits them over N processes), on the same link code (BrokerClient + VillageLink's check with the Ed25519 verify), which prints
# each village's receive and check time. Latency is from the moment the request is sent; p50/p99/max per population.
#
# Peer, in the same run: the broker's own floor. The same signed payload (captured off the broker) published once with
# mosquitto_pub to VILLAGES mosquitto_sub (QoS 1, `-F %U` prints each receive time). Reported: Dalaba / broker.
#
# Memory: the head-end's VmRSS/VmHWM with every village connected, and a village's VmRSS with [county] on vs off.
#
# Usage (as root: PostgreSQL runs as postgres): Tests/Benchmarks/county-fanout.sh
#   BENCH_VILLAGES=500  BENCH_REAL=50  BENCH_KEEP=1 (keep the temp dir)  BENCH_PACE=false (null unpaced)
#   BENCH_SWARMS=N (VillageSwarm processes, default 1: in one, every simulated village shares that process's two pool
#   threads, competing as one process with the 50 real stations for the two cores)
#   BENCH_BIN=DIR (built dalaba-county, dalabad and VillageSwarm, else release builds, niced, in BENCH_SCRATCH)
#   BENCH_DALABAD=PATH (a dalabad of its own, default BIN/dalabad)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
VILLAGES=${BENCH_VILLAGES:-500}
REAL=${BENCH_REAL:-50}
# The real villages' null device held to the clock as a card is (`[device] pace`): without it, 50 of them on one machine
# decode the whole emergency at once in the very second the rest are receiving it. BENCH_PACE=false for that burst.
PACE=${BENCH_PACE:-true}
PG=/usr/lib/postgresql/15/bin
COUNTY=370703
started=$SECONDS
log() { printf '[fanout %4ds] %s\n' "$((SECONDS - started))" "$*" >&2; }

if [ -n "${BENCH_BIN:-}" ]; then
    BIN=$BENCH_BIN
else
    SCRATCH=${BENCH_SCRATCH:-$ROOT/.build-bench}
    for product in dalaba-county dalabad VillageSwarm; do
        nice -n 19 swift build -c release --product "$product" --scratch-path "$SCRATCH" >&2
    done
    BIN=$SCRATCH/release
fi
DALABAD=${BENCH_DALABAD:-$BIN/dalabad}
for tool in "$BIN/dalaba-county" "$DALABAD" "$BIN/VillageSwarm" mosquitto mosquitto_passwd mosquitto_sub mosquitto_pub espeak-ng; do
    command -v "$tool" >/dev/null || { echo "county-fanout: $tool is missing" >&2; exit 1; }
done
ulimit -n 20000

DIR=$(mktemp -d /tmp/dalaba-bench-fanout-XXXXXX)
chmod 0755 "$DIR"  # mosquitto and postgres (users of their own) reach their directories in it
PIDS=""
cleanup() {
    # Newest first (villages before the broker they talk to), then 10 s for all of them together before SIGKILL.
    for pid in $(echo $PIDS | tr ' ' '\n' | tac); do kill "$pid" 2>/dev/null || true; done
    for _ in $(seq 100); do
        alive=0
        for pid in $PIDS; do kill -0 "$pid" 2>/dev/null && alive=1 && break; done
        [ "$alive" = 1 ] || break
        sleep 0.1
    done
    for pid in $PIDS; do kill -9 "$pid" 2>/dev/null || true; done
    [ -f "$DIR/pg/postmaster.pid" ] && runuser -u postgres -- "$PG/pg_ctl" -D "$DIR/pg" -m immediate -w stop >/dev/null 2>&1 || true
    wait 2>/dev/null || true
    left=0
    for pid in $PIDS; do kill -0 "$pid" 2>/dev/null && left=$((left + 1)); done
    log "stopped $(echo $PIDS | wc -w) processes by pid; $left still running"
    [ "${BENCH_KEEP:-}" = 1 ] || rm -rf "$DIR"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MQTT_PORT=$(free_port); PG_PORT=$(free_port); HTTP_PORT=$(free_port)
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

# Region codes: townships of 100 villages each.
CODES=$(python3 -c "print(' '.join(f'$COUNTY{1 + n // 100:03d}{1 + n % 100:03d}' for n in range($VILLAGES)))")
REAL_CODES=$(echo $CODES | tr ' ' '\n' | sed -n "1,${REAL}p" | tr '\n' ' ')
SWARM_CODES=$(echo $CODES | tr ' ' '\n' | tail -n +"$((REAL + 1))" | tr '\n' ' ')

log "broker: $VILLAGES village credentials, ACL per village"
mkdir -p "$DIR/broker" "$DIR/county"
HEAD_PASS=$(openssl rand -hex 12)
{
    echo "county-head-end:$HEAD_PASS"
    for v in $CODES; do echo "$v:pass-$v"; done
} > "$DIR/broker/passwd"
mosquitto_passwd -U "$DIR/broker/passwd"
{
    echo "user county-head-end"
    echo "topic readwrite dalaba/#"
    echo 'topic read $SYS/#'
    # Each village reads its county, township and own topics and writes only its own uplink.
    for v in $CODES; do
        printf 'user %s\ntopic read dalaba/down/%s\ntopic read dalaba/down/%s\ntopic read dalaba/down/%s\ntopic write dalaba/up/%s/#\n' \
            "$v" "$COUNTY" "$(echo "$v" | cut -c1-9)" "$v" "$v"
    done
} > "$DIR/broker/acl"
cat > "$DIR/broker/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous false
password_file $DIR/broker/passwd
acl_file $DIR/broker/acl
persistence true
persistence_location $DIR/broker/
sys_interval 1
max_queued_messages 0
log_dest file $DIR/broker/mosquitto.log
CONF
chmod 0700 "$DIR/broker"; chmod 0600 "$DIR/broker/passwd" "$DIR/broker/acl"
[ "$(id -u)" -ne 0 ] || chown -R mosquitto "$DIR/broker"
mosquitto -c "$DIR/broker/mosquitto.conf" & BROKER=$!; PIDS="$PIDS $BROKER"
SUB="mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT -u county-head-end -P $HEAD_PASS"
for _ in $(seq 100); do $SUB -t '$SYS/broker/version' -C 1 -W 1 >/dev/null 2>&1 && break; sleep 0.1; done
kill -0 "$BROKER" 2>/dev/null || { log "the broker did not start"; exit 1; }
REAL_PIDS=""
connected() { $SUB -t '$SYS/broker/clients/connected' -C 1 -W 3 2>/dev/null || echo 0; }
wait_connected() {  # wait_connected N WHAT: until the broker counts at least N clients
    for _ in $(seq 240); do
        [ "$(connected)" -ge "$1" ] && return 0
        kill -0 "$BROKER" 2>/dev/null || { log "the broker stopped: $(tail -3 "$DIR/broker/mosquitto.log")"; exit 1; }
        for pid in $REAL_PIDS; do
            kill -0 "$pid" 2>/dev/null || { log "a village stopped: $(tail -qn 2 "$DIR"/villages/*/dalabad.log | grep -v '^$' | head -3)"; exit 1; }
        done
        sleep 0.5
    done
    log "only $(connected) of $1 clients connected ($2)"; exit 1
}

log "PostgreSQL"
mkdir -p "$DIR/pg"; chown postgres "$DIR" "$DIR/pg"
runuser -u postgres -- "$PG/initdb" -D "$DIR/pg" -A trust -U postgres >/dev/null
runuser -u postgres -- "$PG/pg_ctl" -D "$DIR/pg" -o "-p $PG_PORT -k $DIR/pg -c listen_addresses=127.0.0.1" -l "$DIR/pg/log" -w start >/dev/null
PSQL="psql -h 127.0.0.1 -p $PG_PORT -U postgres -v ON_ERROR_STOP=1 -qAt"
$PSQL -c "CREATE DATABASE dalaba" postgres

log "head-end"
TOKEN=bench-county-operator-token
{
    printf 'log-level = "warning"\n[county]\ncode = "%s"\nstate-directory = "%s/county/state"\n' "$COUNTY" "$DIR"
    printf '[http]\nlisten = "127.0.0.1:%s"\n[broker]\nport = %s\nusername = "county-head-end"\npassword = "%s"\n' "$HTTP_PORT" "$MQTT_PORT" "$HEAD_PASS"
    printf '[postgres]\nport = %s\nuser = "postgres"\n' "$PG_PORT"
    printf '[[tokens]]\nname = "county-duty"\ntoken = "%s"\nrole = "operator"\n' "$TOKEN"
    for v in $CODES; do printf '[[villages]]\ncode = "%s"\nfetch-token = "fetch-token-of-%s"\n' "$v" "$v"; done
} > "$DIR/county/county.toml"
KEY=$("$BIN/dalaba-county" --config "$DIR/county/county.toml" --print-public-key)
"$BIN/dalaba-county" --config "$DIR/county/county.toml" 2> "$DIR/county/dalaba-county.log" & HEAD=$!; PIDS="$PIDS $HEAD"
for _ in $(seq 300); do [ -f "$DIR/county/state/listen" ] && break; sleep 0.1; done

village_config() {  # village_config CODE DIR WITH_COUNTY
    cat <<CONF
[device]
name = "null"
pace = $PACE
[station]
state-directory = "$2/state"
audio-directory = "$ROOT/Audio"
schedules-directory = "$2/schedules"
[http]
listen = "127.0.0.1:$(free_port)"
CONF
    [ "$3" = yes ] || return 0
    cat <<CONF
[county]
broker-host = "127.0.0.1"
broker-port = $MQTT_PORT
username = "$1"
password = "pass-$1"
region = "$1"
county-key = "$KEY"
head-end-url = "http://127.0.0.1:$HTTP_PORT"
fetch-token = "fetch-token-of-$1"
CONF
}
start_village() {  # start_village CODE NAME WITH_COUNTY; prints the pid
    local d="$DIR/villages/$2"
    mkdir -p "$d/schedules"
    village_config "$1" "$d" "$3" > "$d/dalaba.toml"
    (cd "$d" && exec "$DALABAD" --config "$d/dalaba.toml" > "$d/dalabad.out" 2> "$d/dalabad.log") &
    echo $!
}

log "$REAL real dalabad villages on null (pace = $PACE), one more without [county]"
for v in $REAL_CODES; do pid=$(start_village "$v" "$v" yes); REAL_PIDS="$REAL_PIDS $pid"; PIDS="$PIDS $pid"; done
ALONE=$(start_village none alone no); PIDS="$PIDS $ALONE"
wait_connected "$((REAL + 1))" "the real villages and the head-end"

SWARM_COUNT=$(echo $SWARM_CODES | wc -w)
SWARMS=${BENCH_SWARMS:-1}
log "$SWARM_COUNT villages in $SWARMS VillageSwarm processes"
i=0
for v in $SWARM_CODES; do echo "$v $v pass-$v" >> "$DIR/swarm-codes-$((i % SWARMS))"; i=$((i + 1)); done
SWARM_PIDS=""
for k in $(seq 0 $((SWARMS - 1))); do
    "$BIN/VillageSwarm" --port "$MQTT_PORT" --key "$KEY" --codes "$DIR/swarm-codes-$k" --deadline 120 > "$DIR/swarm-$k.out" 2> "$DIR/swarm-$k.err" &
    SWARM_PIDS="$SWARM_PIDS $!"; PIDS="$PIDS $!"
done
for k in $(seq 0 $((SWARMS - 1))); do
    for _ in $(seq 1800); do grep -q '^ready' "$DIR/swarm-$k.err" 2>/dev/null && break; sleep 0.1; done
    grep -q '^ready' "$DIR/swarm-$k.err" || { log "VillageSwarm $k not ready: $(tail -3 "$DIR/swarm-$k.err")"; exit 1; }
done
wait_connected "$((VILLAGES + 1))" "every village"
# Every village's first state is in PostgreSQL, so the county sees them all online.
for _ in $(seq 600); do
    [ "$($PSQL -d dalaba -c "SELECT count(*) FROM village WHERE online")" -ge "$REAL" ] && break; sleep 0.5
done
sleep 2  # the villages' own start-up (first state, outbox) settles before the measurement
HEAD_RSS_IDLE=$(rss "$HEAD"); BROKER_RSS=$(rss "$BROKER")
VILLAGE_RSS=$(for pid in $REAL_PIDS; do rss "$pid"; done | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}')
ALONE_RSS=$(rss "$ALONE")

log "capturing the signed payload off the broker, then the emergency"
$SUB -t "dalaba/down/$COUNTY" -C 1 -N > "$DIR/payload" & CAPTURE=$!; PIDS="$PIDS $CAPTURE"
wait_connected "$((VILLAGES + 2))" "the payload capture"
t0=$(date +%s.%N)
status=$(curl -s -o "$DIR/accepted.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"id":"bench-flood","kind":"emergency","level":1,"title":"洪水预警","text":"洪水预警，立即转移到高处。"}' \
    "http://127.0.0.1:$HTTP_PORT/v1/announcements")
t_answer=$(date +%s.%N)
[ "$status" = 202 ] || { log "the head-end answered $status: $(cat "$DIR/accepted.json")"; exit 1; }
k=0
for pid in $SWARM_PIDS; do wait "$pid" || { log "VillageSwarm $k: $(tail -3 "$DIR/swarm-$k.err")"; exit 1; }; k=$((k + 1)); done
cat "$DIR"/swarm-*.out > "$DIR/swarm.out"
for _ in $(seq 600); do
    [ "$($PSQL -d dalaba -c "SELECT count(DISTINCT village) FROM receipt WHERE announcement_id = 'bench-flood' AND stage = 'queued'")" -ge "$REAL" ] && break
    sleep 0.2
done
wait "$CAPTURE" || true
HEAD_RSS_AFTER=$(rss "$HEAD"); HEAD_HWM=$(hwm "$HEAD")
accepted_at=$($PSQL -d dalaba -c "SELECT extract(epoch FROM accepted_at) FROM announcement WHERE id = 'bench-flood'")
$PSQL -d dalaba -F ' ' -c "SELECT village, stage, extract(epoch FROM at) FROM receipt WHERE announcement_id = 'bench-flood' AND stage IN ('received', 'queued')" \
    > "$DIR/receipts"
log "stopping the villages before the peer run"
for pid in $REAL_PIDS $ALONE; do kill "$pid" 2>/dev/null || true; done
for pid in $REAL_PIDS $ALONE; do for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done; done
REAL_PIDS=""

log "peer: mosquitto_pub of the same $(wc -c < "$DIR/payload") bytes to $VILLAGES mosquitto_sub"
base=$(connected)
mkdir -p "$DIR/peer"
SUBS=""
for v in $CODES; do
    mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -u "$v" -P "pass-$v" -i "peer-$v" -q 1 -t "dalaba/down/$COUNTY" -C 1 -F '%U' \
        > "$DIR/peer/$v" 2>/dev/null & SUBS="$SUBS $!"
done
PIDS="$PIDS $SUBS"
wait_connected "$((base + VILLAGES))" "the peer's subscribers"
sleep 1  # each subscriber has subscribed (the broker counts a client at CONNECT, before its SUBSCRIBE)
p0=$(date +%s.%N)
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -u county-head-end -P "$HEAD_PASS" -q 1 -t "dalaba/down/$COUNTY" -f "$DIR/payload"
for pid in $SUBS; do wait "$pid" || true; done

python3 - "$DIR" "$t0" "$t_answer" "$accepted_at" "$p0" "$REAL" "$SWARM_COUNT" "$HEAD_RSS_IDLE" "$HEAD_RSS_AFTER" "$HEAD_HWM" "$BROKER_RSS" \
    "$VILLAGE_RSS" "$ALONE_RSS" "$(wc -c < "$DIR/payload")" <<'PY'
import os, sys
d = sys.argv[1]
t0, answer, accepted, p0 = map(float, sys.argv[2:6])
real, swarm_count = int(sys.argv[6]), int(sys.argv[7])
head_idle, head_after, head_hwm, broker, village_rss, alone_rss, size = map(int, sys.argv[8:15])

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))]

def line(name, xs, expected):
    if not xs:
        return f"  {name}: none of {expected}"
    return (f"  {name}: {len(xs)} of {expected}: p50 {pct(xs, 50) * 1000:.0f} ms, p99 {pct(xs, 99) * 1000:.0f} ms, "
            f"max {max(xs) * 1000:.0f} ms")

receipts = {}
for row in open(os.path.join(d, "receipts")):
    village, stage, at = row.split()
    receipts.setdefault(stage, {})[village] = float(at)
real_queued = [t - t0 for t in receipts.get("queued", {}).values()]
real_received = [t - t0 for t in receipts.get("received", {}).values()]
swarm_received, swarm_checked = [], []
for row in open(os.path.join(d, "swarm.out")):
    parts = row.split()
    if len(parts) == 5 and parts[0] == "accepted":
        swarm_received.append(float(parts[3]) - t0)
        swarm_checked.append(float(parts[4]) - t0)
peer = []
for v in os.listdir(os.path.join(d, "peer")):
    text = open(os.path.join(d, "peer", v)).read().strip()
    if text:
        peer.append(float(text.split()[0]) - p0)
everyone = real_queued + swarm_checked
print(f"county fan-out: one level-1 emergency to {real + swarm_count} villages ({size} bytes signed, Opus embedded); "
      f"head-end answered 202 in {(answer - t0) * 1000:.0f} ms (accepted_at +{(accepted - t0) * 1000:.0f} ms)")
print("latency from the request sent:")
print(line("real dalabad, received", real_received, real))
print(line("real dalabad, queued  ", real_queued, real))
print(line("VillageSwarm, received", swarm_received, swarm_count))
print(line("VillageSwarm, checked ", swarm_checked, swarm_count))
print(line("all villages (queued or checked)", everyone, real + swarm_count))
print(line("peer mosquitto_pub -> mosquitto_sub", peer, real + swarm_count))
print("latency from the head-end's 202 answer (speech, Opus, signing and PostgreSQL done):")
print(line("all villages (queued or checked)", [x - (answer - t0) for x in everyone], real + swarm_count))
if everyone and peer:
    print(f"ratio Dalaba / broker: p50 {pct(everyone, 50) / pct(peer, 50):.1f}, p99 {pct(everyone, 99) / pct(peer, 99):.1f}; "
          f"goal p99 <= 1 s: {'met' if pct(everyone, 99) <= 1 else 'NOT met'}")
print(f"memory: head-end VmRSS {head_idle / 1024:.1f} MiB with {real + swarm_count} villages connected, {head_after / 1024:.1f} MiB after the "
      f"fan-out, VmHWM {head_hwm / 1024:.1f} MiB; broker {broker / 1024:.1f} MiB")
print(f"memory: village VmRSS with [county] {village_rss / 1024:.1f} MiB (median of {real}), without {alone_rss / 1024:.1f} MiB: "
      f"+{(village_rss - alone_rss) / 1024:.1f} MiB (goal +5 MB at most: {'met' if (village_rss - alone_rss) * 1024 <= 5e6 else 'NOT met'})")
PY
