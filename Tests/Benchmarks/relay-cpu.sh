#!/usr/bin/env bash
# Relay CPU (issue 12): CPU seconds (user + sys, from /proc/PID/stat) per hour of relaying an Icecast MP3 stream to the
# loudspeaker, through `dalabad` (a relay item: AsyncHTTPClient, libmpg123's feed decoder, soxr's variable-rate engine to
# 48 kHz at the drift corrector's ratio, the player thread) and through `mpg123 -o jack URL`, the same stream to the same
# (virtual) card for the same time, in the same run.
# The upstream is icecast2 on loopback with ezstream streaming a 44.1 kHz stereo 128 kbit/s MP3 of tones in noise; the
# card is jackd's dummy driver (paced in real time, as a sound card is): dalabad plays to it through ALSA's jack plugin
# (`plug:jack`); mpg123 through its own JACK output, since its ALSA output cannot set a buffer size the jack plugin takes.
# DALABA_BENCH_CONFIG=debug for a debug build; SECONDS_PER_RUN (default 60) for the measured time of each.
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/install-deps.sh >/dev/null
config="${DALABA_BENCH_CONFIG:-release}"
[ -n "${DALABA_BENCH_SKIP_BUILD:-}" ] || swift build -c "$config" --product dalabad >/dev/null
[ -n "${DALABA_BENCH_SKIP_BUILD:-}" ] || swift build -c "$config" --product dalaba >/dev/null
bin=".build/$config"
seconds="${SECONDS_PER_RUN:-60}"
work="$(mktemp -d)"
chmod 777 "$work"
server="dalaba-relay-bench-$$"
export JACK_DEFAULT_SERVER="$server"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# The stream: libsndfile's LAME encoder, constant bit rate, tones in noise so the decoder has real work.
cat >"$work/mkmp3.c" <<'C'
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    SF_INFO info = { .samplerate = 44100, .channels = 2, .format = SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III };
    SNDFILE *file = sf_open(argv[1], SFM_WRITE, &info);
    if (!file) { fprintf(stderr, "%s\n", sf_strerror(NULL)); return 1; }
    int mode = SF_BITRATE_MODE_CONSTANT;
    double level = 0.5;
    sf_command(file, SFC_SET_BITRATE_MODE, &mode, sizeof mode);
    sf_command(file, SFC_SET_COMPRESSION_LEVEL, &level, sizeof level);
    int frames = 44100 * atoi(argv[2]);
    float *block = malloc(sizeof(float) * 2 * 4410);
    srand(1);
    for (int done = 0; done < frames; done += 4410) {
        for (int i = 0; i < 4410; i++) {
            double t = (double)(done + i) / 44100, f = 220 * (1 + (done / 44100) % 4);
            for (int c = 0; c < 2; c++)
                block[2 * i + c] = 0.3 * sin(2 * M_PI * f * (c + 1) * t) + 0.1 * ((double)rand() / RAND_MAX - 0.5);
        }
        if (sf_writef_float(file, block, 4410) != 4410) { fprintf(stderr, "%s\n", sf_strerror(file)); return 1; }
    }
    return sf_close(file) != 0;
}
C
gcc -O2 -o "$work/mkmp3" "$work/mkmp3.c" -lsndfile -lm
"$work/mkmp3" "$work/stream.mp3" 120

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
mkdir -p "$work/web" && cp -r /usr/share/icecast2/web/. "$work/web/"
owner=""
[ "$(id -u)" = 0 ] && owner="<security><chroot>0</chroot><changeowner><user>nobody</user><group>nogroup</group></changeowner></security>"
cat >"$work/icecast.xml" <<XML
<icecast><location>bench</location><admin>bench@localhost</admin>
  <limits><clients>10</clients><sources>2</sources><burst-size>65536</burst-size></limits>
  <authentication><source-password>bench</source-password><admin-user>admin</admin-user><admin-password>bench</admin-password></authentication>
  <hostname>127.0.0.1</hostname><listen-socket><port>$port</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <paths><basedir>$work</basedir><logdir>$work</logdir><webroot>$work/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot></paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>2</loglevel></logging>$owner
</icecast>
XML
icecast2 -c "$work/icecast.xml" >"$work/icecast.out" 2>&1 &
pids+=($!)
(umask 077 && cat >"$work/ezstream.xml" <<XML
<ezstream>
  <servers><server><hostname>127.0.0.1</hostname><port>$port</port><password>bench</password></server></servers>
  <streams><stream><mountpoint>/live.mp3</mountpoint><format>MP3</format></stream></streams>
  <intakes><intake><type>file</type><filename>$work/stream.mp3</filename></intake></intakes>
</ezstream>
XML
)
for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $port))" 2>/dev/null && break; sleep 0.1; done
ezstream -c "$work/ezstream.xml" >"$work/ezstream.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$port/status-json.xsl').read().decode())" 2>/dev/null |
        grep -q live.mp3 && break
    sleep 0.1
done
url="http://127.0.0.1:$port/live.mp3"

jackd -n "$server" --no-realtime -d dummy -r 48000 -p 256 >"$work/jackd.log" 2>&1 &
pids+=($!)
jack_wait -s "$server" -w -t 10 >/dev/null
device="plug:jack"

ticks=$(getconf CLK_TCK)
cpu() { awk -v t="$ticks" '{ sub(/^.*\) /, ""); printf "%.3f\n", ($12 + $13) / t }' "/proc/$1/stat"; }
# CPU seconds of PID over the measured time, from a moment after it has connected and filled its buffer.
measure() {
    sleep 3
    local before after
    before=$(cpu "$1")
    sleep "$seconds"
    after=$(cpu "$1")
    awk -v a="$after" -v b="$before" 'BEGIN { printf "%.3f\n", a - b }'
}
report() { awk -v name="$1" -v c="$2" -v s="$seconds" 'BEGIN { printf "%-28s %7.3f CPU s in %d s = %7.1f CPU s per hour (%.2f%% of a core)\n", name, c, s, c / s * 3600, c / s * 100 }'; }

# The peer: mpg123 straight from the URL to the same card.
mpg123 -q -o jack "$url" >"$work/mpg123.log" 2>&1 &
peer=$!
pids+=($peer)
peer_cpu=$(measure "$peer")
kill -0 "$peer" 2>/dev/null || { echo "mpg123 stopped early:" >&2; tail -5 "$work/mpg123.log" >&2; }
kill "$peer" 2>/dev/null || true
report "mpg123 -o jack URL" "$peer_cpu"

# Dalaba: a relay item of the same stream to the same PCM, sample format and rate as the daemon's defaults.
mkdir -p "$work/state" "$work/audio" "$work/schedules"
cat >"$work/dalaba.toml" <<TOML
[device]
name = "$device"
[station]
state-directory = "$work/state"
audio-directory = "$work/audio"
schedules-directory = "$work/schedules"
[[tokens]]
name = "bench"
token = "bench-token-0123456789"
role = "operator"
TOML
"$bin/dalabad" --config "$work/dalaba.toml" --listen 127.0.0.1:0 >"$work/dalabad.log" 2>&1 &
daemon=$!
pids+=($daemon)
for _ in $(seq 100); do [ -s "$work/state/listen" ] && break; sleep 0.1; done
api="http://$(cat "$work/state/listen")"
# The daemon idle for as long first (its timers, status and metrics), so the relay's own share can be told apart.
idle_cpu=$(measure "$daemon")
report "dalabad idle ($config)" "$idle_cpu"
"$bin/dalaba" live start --url "$url" --kind routine --id bench --server "$api" --token bench-token-0123456789 >/dev/null
dalaba_cpu=$(measure "$daemon")
"$bin/dalaba" live stop --server "$api" --token bench-token-0123456789 >/dev/null || true
report "dalabad relay ($config)" "$dalaba_cpu"
grep -q "relay connected" "$work/dalabad.log" || echo "warning: the relay never connected; see the daemon's log" >&2
awk -v d="$dalaba_cpu" -v i="$idle_cpu" -v p="$peer_cpu" 'BEGIN { if (p > 0) printf "ratio dalabad / mpg123, CPU per hour: %.2f (the relay above idle: %.2f)\n", d / p, (d - i) / p }'
