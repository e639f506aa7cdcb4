#!/usr/bin/env bash
# Benchmarks of the airtime reports over a 1,000,000-row log, against the sqlite3 command-line tool on the same file:
#   1. report --by month and --by kind through StationStore (release build)               goal: under 50 ms each
#   2. log verify (walk and SHA-256 every row of the chain)                               reported
#   3. the same aggregates with sqlite3: over the raw log (what a naive GROUP BY costs) and over the daily totals the
#      store keeps (the same work the store does), and SHA3-256 of every row with sqlite3's sha3_query as the peer of
#      verify. Ratios are store / sqlite3: below 1 means the store is faster.
# The log is built by the DALABA_BENCH test in Tests/DalabaStoreTests (AirtimeLogBenchmarkTests), in release mode, which
# also times the store; the file is kept for sqlite3. Every sqlite3 figure is the best of BENCH_RUNS runs of `.timer on`
# (statement time only, no process start), as the store's are the best of five in-process runs.
#
# Usage: Tests/Benchmarks/reports.sh
#   BENCH_ROWS=1000000   rows in the log
#   BENCH_RUNS=5         sqlite3 runs per query (best reported)
#   BENCH_KEEP=1         keep the temp dir (the database and logs)
#   BENCH_STRICT=1       exit 1 when a report misses 50 ms
# Builds with its own scratch path (.build-bench-reports) so it never touches .build.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROWS=${BENCH_ROWS:-1000000}
RUNS=${BENCH_RUNS:-5}
started=$SECONDS

log() { printf '[bench %4ds] %s\n' "$((SECONDS - started))" "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v sqlite3 >/dev/null || {
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    log "installing sqlite3"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends sqlite3 >/dev/null
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dalaba-bench-reports.XXXXXX")
cleanup() { [ "${BENCH_KEEP:-0}" = 1 ] && log "kept $WORK" || rm -rf "$WORK"; }
trap cleanup EXIT
DB=$WORK/bench.sqlite

# ---------------------------------------------------------------- the store, in release mode
log "building (release) and generating $ROWS rows; the first build takes several minutes"
DALABA_BENCH=1 DALABA_BENCH_ROWS=$ROWS DALABA_BENCH_PATH=$DB \
    swift test -c release --scratch-path .build-bench-reports --filter AirtimeLogBenchmarkTests >"$WORK/store.log" 2>&1 ||
    { tail -40 "$WORK/store.log" >&2; die "the store benchmark failed (log above)"; }
grep '^bench:' "$WORK/store.log" >&2 || die "no bench: lines in $WORK/store.log"
figure() { sed -n "s/^bench: $1 \([0-9.]*\) ms.*/\1/p" "$WORK/store.log" | head -1; }
STORE_MONTH=$(figure 'report by month')
STORE_KIND=$(figure 'report by kind')
STORE_VERIFY=$(figure 'verify')
[ -n "$STORE_MONTH" ] && [ -n "$STORE_KIND" ] && [ -n "$STORE_VERIFY" ] || die "cannot read the store's figures"
[ -f "$DB" ] || die "the benchmark did not keep $DB"

# ---------------------------------------------------------------- sqlite3 on the same file
# Best "Run Time: real" of RUNS runs of one statement, in milliseconds.
sqlite_ms() {
    local sql=$1 best="" t
    for _ in $(seq "$RUNS"); do
        t=$(printf '.timer on\n%s\n' "$sql" | sqlite3 -readonly "$DB" | sed -n 's/^Run Time: real \([0-9.]*\).*/\1/p' | tail -1)
        [ -n "$t" ] || die "sqlite3 gave no time for: $sql"
        t=$(awk -v s="$t" 'BEGIN { printf "%.3f", s * 1000 }')
        if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
    done
    echo "$best"
}

# Asia/Shanghai has had no daylight saving since 1991: local days are UTC + 8 h.
RAW_MONTH="SELECT strftime('%Y-%m', at / 1000 + 28800, 'unixepoch') AS month, isTest, count(*), sum(frames * 1.0 / rate)
    FROM airtimeLog WHERE frames > 0 GROUP BY 1, 2;"
RAW_KIND="SELECT kind, isTest, count(*), sum(frames * 1.0 / rate) FROM airtimeLog WHERE frames > 0 GROUP BY kind, isTest;"
TOTALS_MONTH="SELECT strftime('%Y-%m', localDay * 86400, 'unixepoch') AS month, isTest, sum(plays), sum(frames * 1.0 / rate)
    FROM airtimeDailyTotal GROUP BY 1, 2;"
TOTALS_KIND="SELECT kind, isTest, sum(plays), sum(frames * 1.0 / rate) FROM airtimeDailyTotal GROUP BY kind, isTest;"
HASH_ALL="SELECT length(sha3_query('SELECT * FROM airtimeLog ORDER BY seq', 256));"

log "sqlite3 $(sqlite3 --version | cut -d' ' -f1), $RUNS runs each"
SQL_RAW_MONTH=$(sqlite_ms "$RAW_MONTH")
SQL_RAW_KIND=$(sqlite_ms "$RAW_KIND")
SQL_TOTALS_MONTH=$(sqlite_ms "$TOTALS_MONTH")
SQL_TOTALS_KIND=$(sqlite_ms "$TOTALS_KIND")
SQL_HASH=$(sqlite_ms "$HASH_ALL")

# The two ways must agree: plays per month from the raw log and from the store's totals.
diff <(printf '%s\n' "SELECT strftime('%Y-%m', at / 1000 + 28800, 'unixepoch'), count(*) FROM airtimeLog WHERE frames > 0 GROUP BY 1;" |
    sqlite3 -readonly "$DB") \
    <(printf '%s\n' "SELECT strftime('%Y-%m', localDay * 86400, 'unixepoch'), sum(plays) FROM airtimeDailyTotal GROUP BY 1;" |
        sqlite3 -readonly "$DB") >/dev/null || die "the daily totals disagree with the log"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
row() { printf '| %-44s | %10s | %10s | %12s | %12s |\n' "$@"; }
echo
echo "Airtime reports over $(printf "%'d" "$ROWS") log rows ($(nproc) cores, $(uname -m)); times in ms, best of $RUNS"
echo
row "query" "store" "sqlite3 raw" "store/raw" "store/totals"
row "--------------------------------------------" "----------" "----------" "------------" "------------"
row "report --by month (sqlite3 totals $SQL_TOTALS_MONTH ms)" "$STORE_MONTH" "$SQL_RAW_MONTH" \
    "$(ratio "$STORE_MONTH" "$SQL_RAW_MONTH")" "$(ratio "$STORE_MONTH" "$SQL_TOTALS_MONTH")"
row "report --by kind (sqlite3 totals $SQL_TOTALS_KIND ms)" "$STORE_KIND" "$SQL_RAW_KIND" \
    "$(ratio "$STORE_KIND" "$SQL_RAW_KIND")" "$(ratio "$STORE_KIND" "$SQL_TOTALS_KIND")"
row "log verify (sqlite3: sha3_query of all rows)" "$STORE_VERIFY" "$SQL_HASH" "$(ratio "$STORE_VERIFY" "$SQL_HASH")" "-"
echo
for figure in "$STORE_MONTH" "$STORE_KIND"; do
    if awk -v t="$figure" 'BEGIN { exit !(t >= 50) }'; then
        echo "goal missed: a report took $figure ms (goal: under 50 ms)"
        [ "${BENCH_STRICT:-0}" = 1 ] && exit 1
    fi
done
log "done"
