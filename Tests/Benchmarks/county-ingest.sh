#!/usr/bin/env bash
# Log ingest at the county: ROWS village rows (VILLAGES villages, intact hash chains, batches of 200 as villages send
# them) published to a real Mosquitto and taken in by a real dalaba-county (release build) into a real PostgreSQL 15, rows
# per second from the first publish to the last row committed; against psql \copy of the same rows into a copy of the
# table (the database's own bulk-load floor) in the same run. Ratio: head-end rows/s ÷ \copy rows/s. Also the head-end's
# peak RSS (VmHWM) and CPU seconds.
#
# Usage (as root: PostgreSQL runs as postgres): Tests/Benchmarks/county-ingest.sh
#   BENCH_ROWS=1000000  BENCH_VILLAGES=500  BENCH_PUBLISHERS=50 (mosquitto_pub at once)  BENCH_KEEP=1 (keep the temp dir)
#   BENCH_BIN=DIR (a built dalaba-county, else one release build, niced, in BENCH_SCRATCH, default .build-bench)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
ROWS=${BENCH_ROWS:-1000000}
VILLAGES=${BENCH_VILLAGES:-500}
PUBLISHERS=${BENCH_PUBLISHERS:-50}
PG=/usr/lib/postgresql/15/bin
started=$SECONDS
log() { printf '[bench %4ds] %s\n' "$((SECONDS - started))" "$*" >&2; }

if [ -n "${BENCH_BIN:-}" ]; then
    BIN=$BENCH_BIN
else
    SCRATCH=${BENCH_SCRATCH:-$ROOT/.build-bench}
    nice -n 19 swift build -c release --product dalaba-county --scratch-path "$SCRATCH" >&2
    BIN=$SCRATCH/release
fi
DIR=$(mktemp -d /tmp/dalaba-bench-county-XXXXXX)
PIDS=""
cleanup() {
    for pid in $PIDS; do kill "$pid" 2>/dev/null || true; done
    [ -f "$DIR/pg/postmaster.pid" ] && runuser -u postgres -- "$PG/pg_ctl" -D "$DIR/pg" -m immediate -w stop >/dev/null 2>&1 || true
    wait 2>/dev/null || true
    [ "${BENCH_KEEP:-}" = 1 ] || rm -rf "$DIR"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MQTT_PORT=$(free_port); PG_PORT=$(free_port); HTTP_PORT=$(free_port)

log "generating $ROWS rows for $VILLAGES villages"
CODES=$(python3 Tests/Benchmarks/county-rows.py "$ROWS" "$VILLAGES" "$DIR")

cat > "$DIR/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
CONF
mosquitto -c "$DIR/mosquitto.conf" 2> "$DIR/mosquitto.log" & PIDS="$PIDS $!"

mkdir -p "$DIR/pg"; chown postgres "$DIR" "$DIR/pg"
runuser -u postgres -- "$PG/initdb" -D "$DIR/pg" -A trust -U postgres >/dev/null
runuser -u postgres -- "$PG/pg_ctl" -D "$DIR/pg" -o "-p $PG_PORT -k $DIR/pg -c listen_addresses=127.0.0.1" -l "$DIR/pg/log" -w start >/dev/null
PSQL="psql -h 127.0.0.1 -p $PG_PORT -U postgres -v ON_ERROR_STOP=1 -qAt"
$PSQL -c "CREATE DATABASE dalaba" postgres

{
    printf 'log-level = "%s"\n[county]\ncode = "370703"\nstate-directory = "%s/state"\n' "${BENCH_LOG_LEVEL:-warning}" "$DIR"
    printf '[http]\nlisten = "127.0.0.1:%s"\n[broker]\nport = %s\n[postgres]\nport = %s\nuser = "postgres"\n' "$HTTP_PORT" "$MQTT_PORT" "$PG_PORT"
    # The county's villages, as a county configures them (so the head-end knows each one's chain mark from the start).
    for code in $CODES; do printf '[[villages]]\ncode = "%s"\nfetch-token = "fetch-token-of-%s"\n' "$code" "$code"; done
} > "$DIR/county.toml"
"$BIN/dalaba-county" --config "$DIR/county.toml" 2> "$DIR/county.log" & HEAD=$!; PIDS="$PIDS $HEAD"
for _ in $(seq 200); do [ -f "$DIR/state/listen" ] && break; sleep 0.1; done
for _ in $(seq 200); do $PSQL -d dalaba -c "SELECT 1 FROM airtime_row LIMIT 1" >/dev/null 2>&1 && break; sleep 0.1; done
sleep 1  # the head-end's subscription is made once the broker connection is up

log "publishing"
t0=$(date +%s.%N)
# Every village at once would be 500 clients; PUBLISHERS at a time keep the villages' batches interleaved all the same.
echo $CODES | tr ' ' '\n' | xargs -P "$PUBLISHERS" -I{} sh -c \
    "mosquitto_pub -h 127.0.0.1 -p $MQTT_PORT -q 1 -i bench-{} -t dalaba/up/{}/rows -l < $DIR/{}.jsonl"
log "published"
expected=$(( ROWS / VILLAGES * VILLAGES ))
# Done when every row is committed and confirmed (each village's confirmed seq at its last row): a cheap query on 500 rows.
while :; do
    n=$($PSQL -d dalaba -c "SELECT coalesce(sum(confirmed_seq), 0) FROM village")
    [ "$n" -ge "$expected" ] && break
    if [ $((SECONDS - started)) -gt "${BENCH_TIMEOUT:-1800}" ]; then log "timed out: $n of $expected rows confirmed"; exit 1; fi
    sleep 0.2
done
t1=$(date +%s.%N)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$HEAD/status)
cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' /proc/$HEAD/stat)
faults=$($PSQL -d dalaba -c "SELECT count(*) FROM village WHERE chain_fault IS NOT NULL")

$PSQL -d dalaba -c "CREATE TABLE copy_row (LIKE airtime_row INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING INDEXES)"
c0=$(date +%s.%N)
$PSQL -d dalaba -c "\\copy copy_row (village, seq, recorded_ms, announcement_id, title, kind, level, is_test, tier, source, audio, text, play_number, scheduled_ms, started_ms, ended_ms, frames, signal_frames, rate, outcome, error, previous_hash, hash) FROM '$DIR/rows.csv' CSV"
c1=$(date +%s.%N)
stored=$($PSQL -d dalaba -c "SELECT (SELECT count(*) FROM airtime_row) || ' rows stored, ' || (SELECT sum(confirmed_seq) FROM village) || ' confirmed'")
python3 - "$expected" "$t0" "$t1" "$c0" "$c1" "$hwm" "$faults" "$VILLAGES" "$cpu" "$stored" <<'PY'
import sys
n, t0, t1, c0, c1, hwm, faults, villages, cpu, stored = int(sys.argv[1]), *map(float, sys.argv[2:6]), *sys.argv[6:11]
head, copy = n / (t1 - t0), n / (c1 - c0)
print(f"county ingest: {n} rows from {villages} villages through mosquitto + dalaba-county in {t1 - t0:.1f} s = {head:,.0f} rows/s "
      f"(chain faults flagged: {faults})")
print(f"psql \\copy of the same rows: {c1 - c0:.1f} s = {copy:,.0f} rows/s")
print(f"ratio head-end / \\copy: {head / copy:.2f}; head-end peak RSS {int(hwm) / 1024:.1f} MiB, CPU {cpu} s")
print(f"{stored} (confirmed: the sum of every village's confirmed seq)")
PY
