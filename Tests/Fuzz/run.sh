#!/usr/bin/env bash
# Builds the libFuzzer targets in Tests/Fuzz/Fuzz*/ with AddressSanitizer and fuzzes each for SECONDS (default 30).
#
#   Tests/Fuzz/run.sh [SECONDS] [TARGET...]      e.g. Tests/Fuzz/run.sh 600 FuzzCAP
#
# Every target starts from a temporary copy of its seeds (Tests/Fuzz/Corpus/NAME) and saved crashes
# (Tests/Fuzz/Regressions/NAME), so the checked-in corpus never grows. Prints executions, exec/s, coverage and crashes
# per target; exits non-zero if any target crashed, leaked, ran out of memory or timed out, leaving the input under
# .build/fuzz/artifacts/NAME/ with the command that reproduces it.
#
# Environment: FUZZ_JOBS (targets fuzzed at once, default: the number of cores), FUZZ_KEEP_GOING=1 (go on after a crash
# and list every crashing input at the end), FUZZ_FLAGS (more libFuzzer flags).
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-30}
# libFuzzer reads -max_total_time=0 as "no limit", so 0 is refused too.
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "usage: Tests/Fuzz/run.sh [SECONDS] [TARGET...]" >&2; exit 2; }
shift $(($# > 0 ? 1 : 0))

all=()
for dir in Tests/Fuzz/Fuzz*/; do all+=("$(basename "$dir")"); done
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")
for name in "${targets[@]}"; do
    [[ -f Tests/Fuzz/$name/$name.swift ]] || { echo "no fuzz target Tests/Fuzz/$name/$name.swift" >&2; exit 2; }
done

scratch=.build/fuzz
root=$PWD
mkdir -p "$scratch/shims" "$scratch/logs" "$scratch/artifacts"

# SwiftPM compiles an executable's entry point as NAME_main and links with `--defsym main=NAME_main`, so libFuzzer's own
# main is never used; with -DFUZZING the target defines no entry point, and this shim supplies NAME_main for every
# target by handing over to libFuzzer's driver. One shim for all keeps the link flags, and so the build, the same.
toolchain=$(dirname "$(readlink -f "$(command -v swift)")")
cc=$toolchain/clang
[[ -x $cc ]] || cc=clang
shim=$scratch/shims/main.c
{
    echo '#include <stddef.h>'
    echo '#include <stdint.h>'
    echo 'int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);'
    echo 'int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));'
    for name in "${all[@]}"; do
        echo "int ${name}_main(int argc, char **argv) { return LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput); }"
    done
} >"$shim.new"
cmp -s "$shim.new" "$shim" 2>/dev/null && rm "$shim.new" || mv "$shim.new" "$shim"
[[ $scratch/shims/main.o -nt $shim ]] || "$cc" -c -O1 -fPIC "$shim" -o "$scratch/shims/main.o"

# Swift code gets libFuzzer's coverage and ASan through -sanitize; C targets (libyaml inside Yams, BoringSSL) through
# -fsanitize=fuzzer-no-link,address, so the YAML scanner is both guided and checked. Only the products' own
# dependencies are built, in a scratch path of their own, and the flags are the same for every product so that
# building one never rebuilds another's modules.
build_flags=(
    --scratch-path "$scratch"
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
    -Xcc -fsanitize=fuzzer-no-link,address
    -Xlinker "$root/$scratch/shims/main.o"
)
start=$SECONDS
for name in "${targets[@]}"; do
    echo "== building $name (sanitizers: fuzzer, address)"
    if ! swift build --product "$name" "${build_flags[@]}" >"$scratch/logs/$name-build.log" 2>&1; then
        grep -v 'Cannot export local symbol' "$scratch/logs/$name-build.log" | tail -40 >&2
        echo "build of $name failed (full log: $scratch/logs/$name-build.log)" >&2
        exit 1
    fi
done
bin=$(swift build "${build_flags[@]}" --show-bin-path)
echo "== built in $((SECONDS - start)) s"

work=$(mktemp -d "${TMPDIR:-/tmp}/dalaba-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

fuzz() {
    local name=$1 corpus=$work/$1 artifacts=$scratch/artifacts/$1
    mkdir -p "$corpus" "$artifacts"
    [[ -d Tests/Fuzz/Corpus/$name ]] && cp -R "Tests/Fuzz/Corpus/$name/." "$corpus/"
    if [[ -d Tests/Fuzz/Regressions/$name ]]; then
        for file in "Tests/Fuzz/Regressions/$name"/*; do [[ -f $file ]] && cp "$file" "$corpus/regression-$(basename "$file")"; done
    fi
    # Leak checks are off: FoundationXML leaks a CFError on every refused document, and checking for it costs FuzzCAP 95%
    # of its speed; FUZZ_FLAGS=-detect_leaks=1 turns them back on.
    local flags=(-max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 -detect_leaks=0
        -artifact_prefix="$artifacts/")
    [[ -f Tests/Fuzz/Dictionaries/$name.dict ]] && flags+=(-dict="Tests/Fuzz/Dictionaries/$name.dict")
    # Keep going after a crash (in a child process per job), to collect every distinct crash of a long run.
    [[ ${FUZZ_KEEP_GOING:-0} == 1 ]] && flags+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
    # shellcheck disable=SC2206
    flags+=(${FUZZ_FLAGS:-})
    echo "$bin/$name ${flags[*]} $corpus" >"$scratch/logs/$name.command"
    touch "$scratch/logs/$name.start"
    local status=0
    "$bin/$name" "${flags[@]}" "$corpus" >"$scratch/logs/$name.log" 2>&1 || status=$?
    echo "$status" >"$scratch/logs/$name.status"
}

# What an input does to the sanitized binary: the first error line and the first frame in Dalaba or a dependency.
diagnose() {
    local name=$1 file=$2 out leaks=0
    [[ $(basename "$file") == leak-* ]] && leaks=1
    out=$(timeout 120 "$bin/$name" -timeout=10 -detect_leaks=$leaks -rss_limit_mb=2048 "$file" 2>&1) && {
        echo "does not crash when replayed"
        return
    }
    local what where
    what=$(grep -m1 -oE 'Fatal error: .*|ERROR: (AddressSanitizer|libFuzzer): [a-zA-Z -]+( on [a-z ]+)?|ALARM: .*|out-of-memory.*|ERROR: LeakSanitizer: .*' <<<"$out" || true)
    [[ $what == *"deadly signal"* ]] && what=$(grep -m1 -oE '[A-Za-z_/.]+\.swift:[0-9]+: Fatal error: .*' <<<"$out" || echo "$what")
    where=$(grep -E '^ +#[0-9]+ ' <<<"$out" | grep -oE "($root/(Sources|Tests/Fuzz)|$root/$scratch/checkouts)/[^ ]+:[0-9]+" | head -3 |
        sed "s|$root/$scratch/checkouts/|checkouts/|; s|$root/||" | paste -sd' ' - || true)
    what=$(sed 's/ *$//' <<<"$what")
    echo "${what:-stopped without a sanitizer report}${where:+ at $where}"
}

report() {
    local name=$1 log=$scratch/logs/$1.log status runs rate cov ft
    status=$(cat "$scratch/logs/$name.status" 2>/dev/null || echo "no status")
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    if [[ -z $runs ]]; then # fork mode prints no final stats, only "#RUNS: cov: … time: Ns …" lines
        runs=$(grep -oE '^#[0-9]+: ' "$log" | tail -1 | tr -dc 0-9)
        local time
        time=$(grep -oE 'time: [0-9]+s' "$log" | tail -1 | tr -dc 0-9)
        [[ -n $runs && ${time:-0} -gt 0 ]] && rate=$((runs / time))
    fi
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    mapfile -t found < <(find "$scratch/artifacts/$name" -type f -newer "$scratch/logs/$name.start" | sort)
    printf '%-24s executions %10s  exec/s %6s  cov %6s  ft %7s  crashes %d\n' \
        "$name" "${runs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${#found[@]}"
    if [[ $status != 0 || ${#found[@]} -gt 0 ]]; then
        # One entry per distinct finding (the same error at the same place), with its smallest input.
        local -A count=() smallest=()
        local file finding
        for file in "${found[@]}"; do
            finding=$(diagnose "$name" "$file")
            count[$finding]=$((${count[$finding]:-0} + 1))
            if [[ -z ${smallest[$finding]:-} ]] || (($(stat -c %s "$file") < $(stat -c %s "${smallest[$finding]}"))); then
                smallest[$finding]=$file
            fi
        done
        for finding in "${!count[@]}"; do
            file=${smallest[$finding]}
            echo "    finding:   $finding"
            echo "    inputs:    ${count[$finding]}, smallest $file ($(stat -c %s "$file") bytes)"
            echo "    reproduce: $bin/$name $file"
        done
        if ((${#found[@]})); then
            echo "    keep each as a regression input: cp INPUT Tests/Fuzz/Regressions/$name/NAME (FuzzCorpusTests replays it)"
        else
            echo "    libFuzzer exited with $status and wrote no input"
        fi
        echo "    log:       $log"
        return 1
    fi
}

# A trap goes straight to libFuzzer's handler, which saves the input; the Swift runtime's backtracer would get there first
# and, reading the stack under ASan, report itself instead.
export SWIFT_BACKTRACE=enable=no
export LSAN_OPTIONS=suppressions=$root/Tests/Fuzz/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}
jobs=${FUZZ_JOBS:-$(nproc)}
echo "== fuzzing ${targets[*]} for $seconds s each, $jobs at a time"
running=0
for name in "${targets[@]}"; do
    fuzz "$name" &
    running=$((running + 1))
    if ((running >= jobs)); then wait -n || true; running=$((running - 1)); fi
done
wait

failed=0
for name in "${targets[@]}"; do report "$name" || failed=1; done
echo "== done in $((SECONDS - start)) s"
exit $failed
