#!/usr/bin/env bash
# Live voice latency, capture → device (issue 12): a loopback on jackd's dummy card measured by jack_iodelay, through
# `dalabad` (a live item from the capture PCM to the output PCM) and through `arecord | aplay` with the same period and
# buffer, in the same run. jack_iodelay sends a test signal into the capture side and hears it come back from the
# playback side, so the figure is the whole path: capture buffer, program, playback buffer.
# DALABA_BENCH_CONFIG=debug for a debug build; PERIOD and BUFFER (frames) to change the device settings.
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/install-deps.sh >/dev/null
config="${DALABA_BENCH_CONFIG:-release}"
[ -n "${DALABA_BENCH_SKIP_BUILD:-}" ] || swift build -c "$config" --product dalabad >/dev/null
[ -n "${DALABA_BENCH_SKIP_BUILD:-}" ] || swift build -c "$config" --product dalaba >/dev/null
bin=".build/$config"
period="${PERIOD:-256}"
buffer="${BUFFER:-1024}"
seconds="${SECONDS_PER_RUN:-8}"
work="$(mktemp -d)"
server="dalaba-live-bench-$$"
export JACK_DEFAULT_SERVER="$server" ALSA_CONFIG_PATH="/usr/share/alsa/alsa.conf:$work/loop.conf"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cat >"$work/loop.conf" <<CONF
pcm.loop_in { type plug; slave.pcm { type jack; capture_ports { 0 "jack_delay:out" } } }
pcm.loop_out { type plug; slave.pcm { type jack; playback_ports { 0 "jack_delay:in" } } }
CONF
jackd -n "$server" --no-realtime -d dummy -r 48000 -p 256 >"$work/jackd.log" 2>&1 &
pids+=($!)
jack_wait -s "$server" -w -t 10 >/dev/null
sleep 1

# jack_iodelay runs throughout (the jack PCMs connect to its ports when they open, so it must be there first); each
# measurement reads the round trips it reported while the path under test ran (frames).
stdbuf -o0 jack_iodelay >"$work/iodelay.log" 2>&1 &
pids+=($!)
sleep 1
measure() {
    local from
    from=$(stat -c %s "$work/iodelay.log")
    sleep "$seconds"
    tail -c +"$((from + 1))" "$work/iodelay.log" | tr '\r' '\n' | awk '/total roundtrip latency/ { print $1 }'
}

summary() { # name, file for the p50; one figure per line on stdin: p50 p99 max in frames and ms
    sort -n | awk -v name="$1" -v out="$2" '{ v[NR] = $1 } END {
        if (NR == 0) { printf "%-22s no measurement\n", name; exit 1 }
        p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1]; max = v[NR]
        printf "%-22s p50 %6.0f frames (%5.1f ms)  p99 %6.0f (%5.1f ms)  max %6.0f  [%d readings]\n", name, p50, p50 / 48, p99, p99 / 48, max, NR
        print p50 > out }'
}

# The peer: arecord | aplay with the same period and buffer.
(arecord -q -D loop_in -f S16_LE -r 48000 -c 2 --period-size="$period" --buffer-size="$buffer" -t raw |
    aplay -q -D loop_out -f S16_LE -r 48000 -c 2 --period-size="$period" --buffer-size="$buffer" -t raw) 2>/dev/null &
peer=$!
pids+=($peer)
sleep 1
measure | summary "arecord | aplay" "$work/peer.p50" || true
pkill -P "$peer" 2>/dev/null || true
kill "$peer" 2>/dev/null || true
sleep 1

# Dalaba: a live item from loop_in to loop_out.
mkdir -p "$work/state" "$work/audio" "$work/schedules"
cat >"$work/dalaba.toml" <<TOML
[device]
name = "loop_out"
period = $period
buffer = $buffer
[station]
state-directory = "$work/state"
audio-directory = "$work/audio"
schedules-directory = "$work/schedules"
[[tokens]]
name = "bench"
token = "bench-token-0123456789"
role = "operator"
[live]
inputs = ["loop_in"]
silence = 0
TOML
"$bin/dalabad" --config "$work/dalaba.toml" --listen 127.0.0.1:0 >"$work/dalabad.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/state/listen" ] && break; sleep 0.1; done
url="http://$(cat "$work/state/listen")"
"$bin/dalaba" live start --kind routine --id bench --server "$url" --token bench-token-0123456789 >/dev/null
sleep 1
measure | summary "dalabad live item" "$work/dalaba.p50" || true
"$bin/dalaba" live stop --server "$url" --token bench-token-0123456789 >/dev/null || true
echo "period $period, buffer $buffer frames at 48 kHz; bound for a live item: two periods plus the buffer = $((2 * period + buffer)) frames"
if [ -s "$work/peer.p50" ] && [ -s "$work/dalaba.p50" ]; then
    awk -v d="$(cat "$work/dalaba.p50")" -v p="$(cat "$work/peer.p50")" 'BEGIN { printf "ratio dalabad / (arecord | aplay), p50: %.2f\n", d / p }'
fi
