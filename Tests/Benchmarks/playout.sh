#!/usr/bin/env bash
# Benchmarks of the playout spine (libsndfile → libsoxr (or libsamplerate) → ALSA), each against a peer run in the same
# session on the same machine:
#   1. CPU of `dalaba play` vs `aplay`, a 60-s 48 kHz stereo S16 WAV in real time on a paced virtual card
#      (jackd's dummy driver behind ALSA's jack plugin, device plug:jack).      goal: dalaba/aplay ≤ 1.2
#   2. CPU of decoding + resampling a 30-min 44.1 kHz stereo FLAC to 48 kHz S16 as fast as the `null` PCM takes it:
#      sox (default rate quality; `rate -q` for reference) vs dalaba (soxr-hq, the default; sinc-fastest for reference).
#                                                                               goal: sox/dalaba ≥ 1.0
#   3. Peak RSS of `dalaba play --device null` for a 1-min and a 30-min 44.1 kHz FLAC.  goal: within 2 MiB
# CPU is user+sys of the whole process (wait4 rusage, µs resolution, see rusage.c); every figure is the median of
# BENCH_RUNS runs (default 2), peers alternating. Prints a plain table, then the same as Markdown at the end.
#
# Usage: Tests/Benchmarks/playout.sh
#   BENCH_RUNS=3              runs per measurement (median reported)
#   BENCH_REALTIME_SECONDS=60 length of the real-time WAV
#   BENCH_LONG_MINUTES=30     length of the long FLAC
#   BENCH_STRICT=1            exit 1 when a goal is missed (default: report only)
#   BENCH_KEEP=1              keep the temp dir (inputs, logs, per-run figures)
#   BENCH_PROFILE=1           also perf-profile dalaba in measurement 2 (needs perf; printed on stderr)
# Builds with its own scratch path (.build-bench) so it never touches .build.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
RUNS=${BENCH_RUNS:-2}
RT_SECONDS=${BENCH_REALTIME_SECONDS:-60}
LONG_MINUTES=${BENCH_LONG_MINUTES:-30}
SHORT_MINUTES=1
started=$SECONDS
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

log() { printf '[bench %4ds] %s\n' "$((SECONDS - started))" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- packages (deploy/test.sh installs the usual ones)
missing=()
command -v sox >/dev/null || missing+=(sox)
command -v aplay >/dev/null || missing+=(alsa-utils)
{ command -v jackd && command -v jack_wait; } >/dev/null || missing+=(jackd2)
dpkg-query -W -f='${Status}' libasound2-plugins 2>/dev/null | grep -q "install ok installed" || missing+=(libasound2-plugins)
for p in libsox-fmt-base; do # sox's FLAC/WAV handlers
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
{ command -v cc || command -v clang; } >/dev/null || missing+=(gcc)
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    log "installing: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---------------------------------------------------------------- scratch dir, jackd, cleanup
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dalaba-bench.XXXXXX")
JACKD_PID=""
cleanup() {
    if [ -n "$JACKD_PID" ] && kill -0 "$JACKD_PID" 2>/dev/null; then
        kill -TERM "$JACKD_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$JACKD_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$JACKD_PID" 2>/dev/null || true
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- build
log "building dalaba (release, --scratch-path .build-bench)"
if ! swift build -c release --product dalaba --scratch-path .build-bench >"$WORK/build.log" 2>&1; then
    tail -40 "$WORK/build.log" >&2
    die "swift build failed"
fi
DALABA="$(swift build -c release --scratch-path .build-bench --show-bin-path)/dalaba"
[ -x "$DALABA" ] || die "no binary at $DALABA"
CC_BIN=$(command -v cc || command -v clang)
"$CC_BIN" -O2 -o "$WORK/rusage" "$ROOT/Tests/Benchmarks/rusage.c" || die "cannot compile rusage.c"
RUSAGE="$WORK/rusage"

# ---------------------------------------------------------------- inputs
# Pink and brown noise: full-band, hard to compress, so FLAC decoding is at its most expensive (a pessimistic case).
log "generating inputs with sox in $WORK"
sox -V1 -n -r 48000 -c 2 -b 16 -e signed-integer "$WORK/rt.wav" synth "$RT_SECONDS" pinknoise brownnoise vol 0.5
sox -V1 -n -r 44100 -c 2 -b 16 "$WORK/short.flac" synth "$((SHORT_MINUTES * 60))" pinknoise brownnoise vol 0.5
sox -V1 -n -r 44100 -c 2 -b 16 "$WORK/long.flac" synth "$((LONG_MINUTES * 60))" pinknoise brownnoise vol 0.5

# ---------------------------------------------------------------- measuring
# measure NAME CMD...: runs CMD under rusage, appends "user sys rss_kib wall" to $WORK/NAME.runs; output to NAME.N.log.
measure() {
    local name=$1
    shift
    local n
    n=1
    [ -f "$WORK/$name.runs" ] && n=$(($(wc -l <"$WORK/$name.runs") + 1))
    local status=0
    "$RUSAGE" "$WORK/last" "$@" >"$WORK/$name.$n.log" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        cat "$WORK/$name.$n.log" >&2
        die "$name run $n failed (exit $status): $*"
    fi
    local user sys rss wall
    read -r user sys rss wall _ <"$WORK/last"
    echo "$user $sys $rss $wall" >>"$WORK/$name.runs"
    log "$(printf '%-16s run %d: cpu %7.3f s (user %.3f sys %.3f)  maxrss %6d KiB  wall %7.2f s' \
        "$name" "$n" "$(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}')" "$user" "$sys" "$rss" "$wall")"
}

# column NAME FIELD: the runs' values of one field (cpu = user+sys, user, sys, rss, wall), one a line.
column() {
    awk -v f="$2" '{ v = (f=="cpu") ? $1+$2 : (f=="user") ? $1 : (f=="sys") ? $2 : (f=="rss") ? $3 : $4; print v }' "$WORK/$1.runs"
}
median() { column "$1" "$2" | sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
runs_list() { column "$1" "$2" | awk -v fmt="$3" '{printf (NR>1?", ":"") fmt, $1}'; }

# ---------------------------------------------------------------- 1. real time on the paced virtual card
export JACK_DEFAULT_SERVER="dalaba-bench-$$" # our own server: never collides with a jackd the tests started
export JACK_NO_AUDIO_RESERVATION=1
log "starting jackd (server $JACK_DEFAULT_SERVER, dummy driver, 48 kHz, 1024-frame periods)"
jackd --no-realtime -n "$JACK_DEFAULT_SERVER" -d dummy -r 48000 -p 1024 >"$WORK/jackd.log" 2>&1 &
JACKD_PID=$!
jack_wait -w -t 10 >/dev/null 2>&1 || { cat "$WORK/jackd.log" >&2; die "jackd did not come up"; }

log "1. real time: ${RT_SECONDS}-s WAV on plug:jack, $RUNS runs each, alternating (about $((2 * RUNS * RT_SECONDS)) s)"
for i in $(seq "$RUNS"); do
    kill -0 "$JACKD_PID" 2>/dev/null || die "jackd died (see $WORK/jackd.log)"
    if [ $((i % 2)) -eq 1 ]; then order=(aplay dalaba); else order=(dalaba aplay); fi
    for who in "${order[@]}"; do
        case $who in
        aplay) measure rt_aplay aplay -q -D plug:jack "$WORK/rt.wav" ;;
        dalaba) measure rt_dalaba "$DALABA" play "$WORK/rt.wav" --device plug:jack ;;
        esac
    done
done
kill -TERM "$JACKD_PID" 2>/dev/null || true
wait "$JACKD_PID" 2>/dev/null || true
JACKD_PID=""

# ---------------------------------------------------------------- 2. decode + resample, as fast as `null` takes it
log "2. decode + resample: ${LONG_MINUTES}-min 44.1 kHz FLAC -> 48 kHz S16, $RUNS runs each"
for i in $(seq "$RUNS"); do
    measure sox_hq sox -V1 "$WORK/long.flac" -r 48000 -b 16 -e signed-integer -t raw /dev/null
    measure dalaba_fastest "$DALABA" play "$WORK/long.flac" --device null
    measure sox_quick sox -V1 "$WORK/long.flac" -b 16 -e signed-integer -t raw /dev/null rate -q 48000
    measure dalaba_sinc "$DALABA" play "$WORK/long.flac" --device null --resampler sinc-fastest
done

# Optional: where dalaba's CPU goes in measurement 2, by shared object and hottest symbols (stderr only).
if [ "${BENCH_PROFILE:-0}" = 1 ]; then
    if command -v perf >/dev/null && perf record -q -F 999 -o "$WORK/perf.data" -- \
        "$DALABA" play "$WORK/long.flac" --device null >"$WORK/perf.log" 2>&1; then
        log "profile of 'dalaba play long.flac --device null' (perf, % of samples):"
        perf report -i "$WORK/perf.data" --no-children --sort dso 2>/dev/null | grep -v '^#' | grep -v '^$' | head -12 >&2
        perf report -i "$WORK/perf.data" --no-children --sort dso,sym 2>/dev/null | grep -v '^#' | grep -v '^$' |
            grep -v '\] 0x' | head -12 >&2
    else
        log "BENCH_PROFILE=1: perf is missing or cannot record here (apt-get install linux-perf), skipped"
    fi
fi

# ---------------------------------------------------------------- 3. peak RSS, short vs long (long: the runs above)
log "3. peak RSS: ${SHORT_MINUTES}-min FLAC on null, $RUNS runs"
for i in $(seq "$RUNS"); do
    measure dalaba_short "$DALABA" play "$WORK/short.flac" --device null
done

# Sanity: every dalaba run really played the whole file (its own report line), every real-time run took real time.
for f in "$WORK"/rt_dalaba.*.log "$WORK"/dalaba_*.log; do
    grep -q '^played ' "$f" || die "dalaba did not report playing in $f: $(cat "$f")"
done
for name in rt_aplay rt_dalaba; do
    column "$name" wall | awk -v s="$RT_SECONDS" -v n="$name" \
        '$1 < 0.97*s { printf "warning: %s took %.2f s for %d s of audio: the device was not paced\n", n, $1, s > "/dev/stderr" }'
done

# ---------------------------------------------------------------- report
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ printf "%.2f", (b > 0) ? a/b : 0 }'; }
verdict() { awk -v r="$1" -v op="$2" -v g="$3" 'BEGIN{ ok = (op=="<=") ? (r <= g) : (r >= g); print ok ? "met" : "MISSED" }'; }
secs() { awk -v v="$1" 'BEGIN{ printf "%.3f s", v }'; }
mib() { awk -v v="$1" 'BEGIN{ printf "%.2f MiB", v/1024 }'; }

rt_d=$(median rt_dalaba cpu); rt_a=$(median rt_aplay cpu)
fa=$(median dalaba_fastest cpu); me=$(median dalaba_sinc cpu)
hq=$(median sox_hq cpu); qk=$(median sox_quick cpu)
rss_s=$(median dalaba_short rss); rss_l=$(median dalaba_fastest rss)
rss_diff=$(awk -v a="$rss_l" -v b="$rss_s" 'BEGIN{ d=a-b; print (d<0)?-d:d }')

r1=$(ratio "$rt_d" "$rt_a"); v1=$(verdict "$r1" "<=" 1.2)
r2=$(ratio "$hq" "$fa"); v2=$(verdict "$r2" ">=" 1.0)
r3=$(ratio "$hq" "$me")
r4=$(ratio "$qk" "$fa")
v5=$(verdict "$rss_diff" "<=" 2048)

# Rows: measurement | dalaba | peer | ratio | goal | verdict
goals=(
    "1. CPU, ${RT_SECONDS}-s 48k S16 WAV, real time on plug:jack|$(secs "$rt_d")|aplay $(secs "$rt_a")|dalaba/aplay $r1|<= 1.20|$v1"
    "2. CPU, ${LONG_MINUTES}-min 44.1k FLAC -> 48k S16 on null, soxr-hq|$(secs "$fa")|sox (default rate) $(secs "$hq")|sox/dalaba $r2|>= 1.00|$v2"
    "2b. same, dalaba sinc-fastest (libsamplerate, reference)|$(secs "$me")|sox (default rate) $(secs "$hq")|sox/dalaba $r3|-|-"
    "2c. same, sox rate -q (reference)|$(secs "$fa")|sox rate -q $(secs "$qk")|sox/dalaba $r4|-|-"
    "3. peak RSS, ${SHORT_MINUTES}-min vs ${LONG_MINUTES}-min FLAC on null|$(mib "$rss_s") / $(mib "$rss_l")|-|diff $(mib "$rss_diff")|<= 2 MiB|$v5"
)
detail_row() { # name label
    echo "$2|$RUNS|$(runs_list "$1" cpu %.3f)|$(awk -v v="$(median "$1" user)" 'BEGIN{printf "%.3f", v}')|$(awk -v v="$(median "$1" sys)" 'BEGIN{printf "%.3f", v}')|$(runs_list "$1" rss %d)|$(runs_list "$1" wall %.2f)"
}
details=(
    "$(detail_row rt_aplay "aplay -D plug:jack rt.wav")"
    "$(detail_row rt_dalaba "dalaba play rt.wav --device plug:jack")"
    "$(detail_row sox_hq "sox long.flac -r 48000 -b 16 -t raw /dev/null")"
    "$(detail_row sox_quick "sox long.flac -b 16 -t raw /dev/null rate -q 48000")"
    "$(detail_row dalaba_fastest "dalaba play long.flac --device null")"
    "$(detail_row dalaba_sinc "dalaba play long.flac --device null --resampler sinc-fastest")"
    "$(detail_row dalaba_short "dalaba play short.flac --device null")"
)
goal_header="measurement|dalaba|peer|ratio|goal|verdict"
detail_header="command|runs|CPU s, each run|user s (median)|sys s (median)|max RSS KiB, each run|wall s, each run"

plain() { # header rows...
    printf '%s\n' "$@" | awk -F'|' '
        { for (i=1; i<=NF; i++) { cell[NR,i]=$i; if (length($i) > w[i]) w[i]=length($i) } if (NF > nf) nf=NF; n=NR }
        END { for (r=1; r<=n; r++) { line=""; for (i=1; i<=nf; i++) line = line sprintf("%-" w[i] "s", cell[r,i]) (i<nf ? "  " : "")
              print line; if (r==1) { sep=""; for (i=1; i<=nf; i++) { s=""; for (k=0; k<w[i]; k++) s=s "-"; sep = sep s (i<nf ? "  " : "") } print sep } } }'
}
markdown() { # header rows...
    local first=1
    for row in "$@"; do
        echo "| ${row//|/ | } |"
        if [ $first = 1 ]; then echo "|$(echo "$row" | awk -F'|' '{for(i=1;i<=NF;i++) printf "---|"}')"; first=0; fi
    done
}

machine="$(nproc) cores, $(uname -r), load average at start: $LOAD_START"
echo
echo "Playout benchmarks - $(date -u '+%Y-%m-%d %H:%M UTC'), $machine, median of $RUNS runs"
echo
plain "$goal_header" "${goals[@]}"
echo
plain "$detail_header" "${details[@]}"
echo
echo "## Playout benchmarks"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $machine; $(swift --version 2>/dev/null | head -1); median of $RUNS runs; CPU = user+sys of the whole process."
echo
markdown "$goal_header" "${goals[@]}"
echo
markdown "$detail_header" "${details[@]}"
log "done in $((SECONDS - started)) s"

if [ "${BENCH_STRICT:-0}" = 1 ] && printf '%s\n' "${goals[@]}" | grep -q 'MISSED'; then exit 1; fi
