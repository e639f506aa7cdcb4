#!/usr/bin/env bash
# Benchmarks of the schedule at 10,000 programmes (the design's goal: a wake-up under 10 ms):
#   1. `dalaba schedule next --count 1000` over one generated file of 10,000 entries: wall time and peak RSS of the whole
#      process (parse + next-fire computation + printing), via `/usr/bin/time -f '%e %M'`. Median of BENCH_RUNS runs.
#   2. `dalaba schedule check` over the same file (every audio name is opened once with libsndfile), the same way.
#   3. The Scheduler's cost per wake-up at 10,000 programmes over a simulated week, from the DALABA_BENCH-gated test in
#      DalabaScheduleTests (release build): average and worst wake-up, and nextSlots(count: 1000) in-process.
# The generated entries mix the four day rules (daily, weekdays, days of month, lunar days) with two times each and an
# exception date, like ScheduleBenchmarkTests' generator.
#
# Usage: Tests/Benchmarks/schedule.sh
#   BENCH_RUNS=3       runs per process measurement (median reported)
#   BENCH_ENTRIES=10000
#   BENCH_STRICT=1     exit 1 when the wake-up goal is missed (default: report only)
#   BENCH_KEEP=1       keep the temp dir
# Builds release with its own scratch path (.build-schedule) so it never touches .build.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
RUNS=${BENCH_RUNS:-3}
ENTRIES=${BENCH_ENTRIES:-10000}
SCRATCH=.build-schedule
started=$SECONDS

log() { printf '[bench %4ds] %s\n' "$((SECONDS - started))" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dalaba-schedule-bench.XXXXXX")
cleanup() { if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT

# ---------------------------------------------------------------- build
log "building dalaba (release, --scratch-path $SCRATCH)"
if ! swift build -c release --product dalaba --scratch-path "$SCRATCH" >"$WORK/build.log" 2>&1; then
    tail -40 "$WORK/build.log" >&2
    die "swift build failed"
fi
DALABA="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/dalaba"
[ -x "$DALABA" ] || die "no binary at $DALABA"

# ---------------------------------------------------------------- input
mkdir -p "$WORK/Schedules"
awk -v n="$ENTRIES" 'BEGIN {
    seed = 88172645
    print "programmes:"
    for (i = 0; i < n; i++) {
        r = i % 4
        if (r == 0) rule = "days: daily"
        else if (r == 1) rule = "weekdays: [mon, wed, fri]"
        else if (r == 2) rule = "days-of-month: [1, 15, -1]"
        else rule = "lunar-days: [1, 5, 11, 15, 21, 25]"
        seed = (seed * 1103515245 + 12345) % 2147483648; h1 = 5 + seed % 8
        seed = (seed * 1103515245 + 12345) % 2147483648; m1 = seed % 60
        seed = (seed * 1103515245 + 12345) % 2147483648; h2 = 13 + seed % 9
        seed = (seed * 1103515245 + 12345) % 2147483648; m2 = seed % 60
        printf "  - name: generated-%d\n    kind: %s\n    audio: demo-announcement.wav\n", i, (i % 3 == 0 ? "routine" : "policy")
        printf "    times: [\"%02d:%02d\", \"%02d:%02d\"]\n    %s\n    except: [2026-10-01]\n", h1, m1, h2, m2, rule
    }
}' >"$WORK/Schedules/generated.yaml"
log "generated $ENTRIES entries ($(wc -c <"$WORK/Schedules/generated.yaml") bytes)"

# ---------------------------------------------------------------- measurements
# Median of RUNS runs of a command: prints "seconds max-RSS-KiB".
measure() {
    local out="$WORK/run.out"
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -o "$WORK/time.txt" -f '%e %M' "$@" >"$out" 2>"$WORK/run.err" || { cat "$WORK/run.err" >&2; die "failed: $*"; }
        cat "$WORK/time.txt"
    done | sort -n | awk -v runs="$RUNS" '{ e[NR] = $1; m[NR] = $2 } END { mid = int((runs + 1) / 2); print e[mid], m[mid] }'
}

log "dalaba schedule next --count 1000 ($RUNS runs)"
read -r NEXT_S NEXT_KB < <(measure "$DALABA" schedule next "$WORK/Schedules" --audio "$ROOT/Audio" --count 1000 \
    --after 2026-03-02T00:00:00+08:00)
LINES=$("$DALABA" schedule next "$WORK/Schedules" --count 1000 --after 2026-03-02T00:00:00+08:00 | wc -l)
[ "$LINES" = 1000 ] || die "schedule next printed $LINES lines, not 1000"
log "  next: ${NEXT_S} s, max RSS ${NEXT_KB} KiB"

log "dalaba schedule check ($RUNS runs)"
read -r CHECK_S CHECK_KB < <(measure "$DALABA" schedule check "$WORK/Schedules" --audio "$ROOT/Audio")
log "  check: ${CHECK_S} s, max RSS ${CHECK_KB} KiB"

log "Scheduler wake-ups at $ENTRIES programmes (release test build, DALABA_BENCH=1)"
if ! DALABA_BENCH=1 swift test -c release --scratch-path "$SCRATCH" --filter ScheduleBenchmark >"$WORK/test.log" 2>&1; then
    tail -40 "$WORK/test.log" >&2
    die "the benchmark test failed"
fi
PARSE=$(grep -o 'parse 10,000 programmes: .*' "$WORK/test.log" | head -1 | sed 's/.*: //')
NEXT_IN=$(grep -o 'nextSlots(count: 1000): .*' "$WORK/test.log" | head -1 | sed 's/.*: //')
WEEK=$(grep -o 'a week: .*' "$WORK/test.log" | head -1 | sed 's/a week: //')
AVG=$(echo "$WEEK" | sed -n 's/.*slots, \(.*\) per wake-up on average.*/\1/p')
WORST=$(echo "$WEEK" | sed -n 's/.*worst \(.*\)$/\1/p')

# ---------------------------------------------------------------- report
to_ms() { # a Swift Duration description ("0.0123 seconds" or "1.2e-05 seconds") in ms
    echo "$1" | awk '{ printf "%.3f", $1 * 1000 }'
}
AVG_MS=$(to_ms "$AVG")
WORST_MS=$(to_ms "$WORST")
GOAL=$(awk -v a="$AVG_MS" 'BEGIN { print (a < 10 ? "met" : "MISSED") }')

cat <<EOF

Schedule benchmark, $ENTRIES programmes ($(nproc) cores, load at start $(cut -d' ' -f1-3 /proc/loadavg))
  dalaba schedule next --count 1000   ${NEXT_S} s   max RSS $((NEXT_KB / 1024)) MiB   (median of $RUNS)
  dalaba schedule check               ${CHECK_S} s   max RSS $((CHECK_KB / 1024)) MiB   (median of $RUNS)
  in-process: parse $PARSE; nextSlots(count: 1000) $NEXT_IN
  Scheduler over a week: $WEEK
  per wake-up: average ${AVG_MS} ms, worst ${WORST_MS} ms   goal < 10 ms: $GOAL

| measurement | time | max RSS |
|---|---|---|
| \`dalaba schedule next --count 1000\` ($ENTRIES entries) | ${NEXT_S} s | $((NEXT_KB / 1024)) MiB |
| \`dalaba schedule check\` ($ENTRIES entries) | ${CHECK_S} s | $((CHECK_KB / 1024)) MiB |
| Scheduler wake-up, average / worst | ${AVG_MS} / ${WORST_MS} ms | – |
EOF

if [ "${BENCH_STRICT:-0}" = 1 ] && [ "$GOAL" != met ]; then exit 1; fi
