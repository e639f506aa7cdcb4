#!/bin/sh
# A demo county on one machine: Mosquitto (password file + ACL per village), PostgreSQL 15 (a cluster of its own),
# dalaba-county and five dalabad villages on the `null` device in two townships. Ctrl-C stops everything it started.
#
#   deploy/demo-county.sh [DIR]      (run as root: PostgreSQL runs as the postgres user; default DIR /tmp/dalaba-demo-county)
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIR=${1:-/tmp/dalaba-demo-county}
BIN=${DALABA_BIN_DIR:-$ROOT/.build/debug}
PG=/usr/lib/postgresql/15/bin
COUNTY=370703
VILLAGES="370703001001 370703001002 370703001003 370703002001 370703002002"
MQTT_PORT=${MQTT_PORT:-18830}
PG_PORT=${PG_PORT:-15432}
HTTP_PORT=${HTTP_PORT:-8790}

if [ ! -x "$BIN/dalaba-county" ] || [ ! -x "$BIN/dalabad" ] || [ ! -x "$BIN/dalaba" ]; then swift build; fi
for tool in mosquitto mosquitto_passwd "$PG/initdb" runuser; do
    command -v "$tool" >/dev/null || { echo "demo-county: $tool is missing (deploy/install-deps.sh installs it)" >&2; exit 1; }
done

rm -rf "$DIR"
mkdir -p "$DIR/broker" "$DIR/county"
PIDS=""
cleanup() {
    for pid in $PIDS; do kill "$pid" 2>/dev/null || true; done
    [ -f "$DIR/pg/postmaster.pid" ] && runuser -u postgres -- "$PG/pg_ctl" -D "$DIR/pg" -m fast -w stop >/dev/null 2>&1 || true
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# Broker: one user per village (reads its county, township and own topics, writes only its own uplink) and the head-end.
HEAD_PASS=$(openssl rand -hex 12)
: > "$DIR/broker/passwd"
mosquitto_passwd -b "$DIR/broker/passwd" county-head-end "$HEAD_PASS"
{
    echo "user county-head-end"
    echo "topic readwrite dalaba/#"
    for v in $VILLAGES; do
        echo "user $v"
        echo "topic read dalaba/down/$COUNTY"
        echo "topic read dalaba/down/$(echo "$v" | cut -c1-9)"
        echo "topic read dalaba/down/$v"
        echo "topic write dalaba/up/$v/#"
    done
} > "$DIR/broker/acl"
for v in $VILLAGES; do mosquitto_passwd -b "$DIR/broker/passwd" "$v" "pass-$v"; done
cat > "$DIR/broker/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous false
password_file $DIR/broker/passwd
acl_file $DIR/broker/acl
persistence true
persistence_location $DIR/broker/
# Sessions and queued messages to disk every second (mosquitto's default is every 30 minutes): a broker that crashes
# loses at most the last second of them (villages resend their rows from the county's mark; a notice published in that
# second to a village that was offline is not sent again).
autosave_interval 1
log_dest file $DIR/broker/mosquitto.log
CONF
chmod 0700 "$DIR/broker"; chmod 0600 "$DIR/broker/passwd" "$DIR/broker/acl"
# Run as root, mosquitto drops to its own user before it opens these: let that user own them.
[ "$(id -u)" -ne 0 ] || chown -R mosquitto "$DIR/broker"
mosquitto -c "$DIR/broker/mosquitto.conf" & PIDS="$PIDS $!"

# PostgreSQL: a cluster of the demo's own, as the postgres user.
mkdir -p "$DIR/pg"; chown postgres "$DIR" "$DIR/pg"
runuser -u postgres -- "$PG/initdb" -D "$DIR/pg" -A trust -U postgres >/dev/null
runuser -u postgres -- "$PG/pg_ctl" -D "$DIR/pg" -o "-p $PG_PORT -k $DIR/pg -c listen_addresses=127.0.0.1" -l "$DIR/pg/log" -w start >/dev/null
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE dalaba" postgres

# The head-end.
TOKEN=demo-county-operator-token
{
    cat <<CONF
[county]
code = "$COUNTY"
name = "演示县"
state-directory = "$DIR/county/state"
[http]
listen = "127.0.0.1:$HTTP_PORT"
[broker]
port = $MQTT_PORT
username = "county-head-end"
password = "$HEAD_PASS"
[postgres]
port = $PG_PORT
user = "postgres"
[[townships]]
code = "370703001"
name = "一乡"
[[townships]]
code = "370703002"
name = "二镇"
[[tokens]]
name = "county-duty"
token = "$TOKEN"
role = "operator"
[[tokens]]
name = "township-2-duty"
token = "demo-township2-operator-token"
role = "operator"
scope = "370703002"
CONF
    for v in $VILLAGES; do printf '[[villages]]\ncode = "%s"\nname = "村%s"\nfetch-token = "fetch-%s-demo"\n' "$v" "$v" "$v"; done
} > "$DIR/county/county.toml"
KEY=$("$BIN/dalaba-county" --config "$DIR/county/county.toml" --print-public-key)
"$BIN/dalaba-county" --config "$DIR/county/county.toml" 2> "$DIR/county/dalaba-county.log" & PIDS="$PIDS $!"

# Five villages on the null device, each with its region code.
port=8781
for v in $VILLAGES; do
    mkdir -p "$DIR/$v"
    cat > "$DIR/$v/dalaba.toml" <<CONF
[device]
name = "null"
# Held to the clock as a loudspeaker is, so an item is on air for its length and coverage shows it playing.
pace = true
[station]
state-directory = "$DIR/$v/state"
audio-directory = "$ROOT/Audio"
schedules-directory = "$DIR/$v/schedules"
[http]
listen = "127.0.0.1:$port"
[county]
broker-host = "127.0.0.1"
broker-port = $MQTT_PORT
username = "$v"
password = "pass-$v"
region = "$v"
county-key = "$KEY"
head-end-url = "http://127.0.0.1:$HTTP_PORT"
fetch-token = "fetch-$v-demo"
CONF
    mkdir -p "$DIR/$v/schedules"
    (cd "$DIR/$v" && exec "$BIN/dalabad" --config "$DIR/$v/dalaba.toml" 2> "$DIR/$v/dalabad.log") & PIDS="$PIDS $!"
    echo "village $v on http://127.0.0.1:$port (log $DIR/$v/dalabad.log)"
    port=$((port + 1))
done

cat <<TEXT

Demo county $COUNTY is up: head-end http://127.0.0.1:$HTTP_PORT (log $DIR/county/dalaba-county.log).
Queue to the whole county, to one township, and look at the result:

  export DALABA_TOKEN=$TOKEN
  $BIN/dalaba queue --server http://127.0.0.1:$HTTP_PORT --kind policy --text "全县通知：明天上午停水。" --id notice-1
  $BIN/dalaba queue --server http://127.0.0.1:$HTTP_PORT --kind emergency --level 1 --text "洪水预警" --to 370703002 --id flood-1
  $BIN/dalaba villages --server http://127.0.0.1:$HTTP_PORT
  $BIN/dalaba coverage notice-1 --server http://127.0.0.1:$HTTP_PORT
  $BIN/dalaba stop-all --to 370703001 --server http://127.0.0.1:$HTTP_PORT

Ctrl-C stops the county.
TEXT
wait
