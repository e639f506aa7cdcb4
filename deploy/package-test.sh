#!/usr/bin/env bash
# The Debian package, tested the way a technician uses it: build it (and a second, higher version), lintian it, install
# it with dpkg -i, check the user, the state directory and the admin token, run `dalaba doctor`, start dalabad as the
# dalaba user with the installed configuration on ALSA's file device, queue the demo announcement with the installed
# dalaba, check the log row, upgrade and check that the queue, the log and an edited configuration survive, remove
# (state kept), purge (state, configuration and user gone). The machine is left as it was found, also on failure.
#
# Needs root (dpkg). Refuses to run where a dalaba package is already installed: it would purge a real station.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

[ "$(id -u)" -eq 0 ] || { echo "package-test.sh: run as root (it installs and purges the package)" >&2; exit 2; }
# Installed, or removed with its configuration kept: anything but "not installed".
installed() {
    local state
    state=$(dpkg-query -W -f='${db:Status-Abbrev}' dalaba 2>/dev/null) || return 1
    [ "${state:1:1}" != n ]
}
if installed; then
    echo "package-test.sh: a dalaba package is installed here; the test would purge it. Run it on a test machine." >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/dalaba-package-test.XXXXXX")
chmod 0755 "$work"
daemon_pid=""
stop_daemon() {
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid"
        for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$daemon_pid" 2>/dev/null && { echo "dalabad did not stop on SIGTERM" >&2; kill -KILL "$daemon_pid"; }
        wait "$daemon_pid" 2>/dev/null || true
    fi
    daemon_pid=""
}
cleanup() {
    status=$?
    stop_daemon
    if installed; then
        dpkg --purge dalaba >/dev/null 2>&1 || echo "package-test.sh: could not purge dalaba; remove it by hand" >&2
    fi
    [ "$status" -ne 0 ] && [ -f "$work/dalabad.log" ] && { echo "--- dalabad log"; tail -30 "$work/dalabad.log"; }
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
check() { echo "ok: $*"; }

# --- build
# The build's output goes to stderr, so a compile error is seen; each .deb is the one file in its output directory.
deploy/package.sh --output "$work/v1" >&2
deb1=$(ls "$work"/v1/dalaba_*.deb)
version1=$(dpkg-deb -f "$deb1" Version)
version2="$version1+upgrade1"
deploy/package.sh --version "$version2" --output "$work/v2" >&2
deb2=$(ls "$work"/v2/dalaba_*.deb)
dpkg --compare-versions "$version2" gt "$version1" || fail "$version2 is not higher than $version1"
check "built $(basename "$deb1") and $(basename "$deb2") in $((SECONDS - started)) s"
depends=$(dpkg-deb -f "$deb1" Depends)
for lib in libasound2 libsndfile1 libsoxr0 libebur128-1 espeak-ng adduser; do
    grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
grep -qi "swift" <<<"$depends" && fail "Depends names a Swift package: $depends"
check "Depends: $depends"

# --- lintian: no errors (warnings are printed for the record)
lintian --fail-on error --tag-display-limit 0 "$deb1" | tee "$work/lintian.txt" || fail "lintian found errors"
check "lintian: $(grep -c '^E:' "$work/lintian.txt" || true) errors, $(grep -c '^W:' "$work/lintian.txt" || true) warnings"

# --- install
dpkg -i "$deb1" | tee "$work/install.txt"
grep -q "/var/lib/dalaba/admin.token" "$work/install.txt" || fail "postinst did not say where the admin token is"
for path in /usr/bin/dalabad /usr/bin/dalaba /usr/share/dalaba/audio/chime.wav /usr/share/dalaba/audio/attention.wav \
    /usr/share/dalaba/audio/demo-announcement.wav /usr/share/dalaba/schedules/village.yaml /etc/dalaba/dalaba.toml \
    /lib/systemd/system/dalabad.service /usr/share/man/man1/dalabad.1.gz /usr/share/man/man1/dalaba.1.gz; do
    [ -e "$path" ] || fail "$path is not installed"
done
if ldd /usr/bin/dalabad /usr/bin/dalaba | grep -i "swift\|not found"; then fail "the binaries need libraries the package does not bring"; fi
id -nG dalaba | tr ' ' '\n' | grep -qx audio || fail "the dalaba user is not in group audio: $(id dalaba)"
[ "$(stat -c '%U:%G %a' /var/lib/dalaba)" = "dalaba:dalaba 750" ] || fail "/var/lib/dalaba is $(stat -c '%U:%G %a' /var/lib/dalaba)"
[ "$(stat -c '%U:%G %a' /var/lib/dalaba/admin.token)" = "dalaba:dalaba 640" ] ||
    fail "admin.token is $(stat -c '%U:%G %a' /var/lib/dalaba/admin.token)"
token=$(cat /var/lib/dalaba/admin.token)
systemd-analyze verify /lib/systemd/system/dalabad.service || fail "systemd-analyze verify"
man -w dalabad >/dev/null && man -w dalaba >/dev/null || fail "man cannot find the pages"
zcat /usr/share/man/man1/dalaba.1.gz | grep -q "doctor" || fail "dalaba(1) does not describe doctor"
# Running configure again (dpkg-reconfigure, a half-done install retried) changes nothing.
DPKG_MAINTSCRIPT_PACKAGE=dalaba DPKG_MAINTSCRIPT_NAME=postinst /var/lib/dpkg/info/dalaba.postinst configure "$version1" >/dev/null
[ "$(cat /var/lib/dalaba/admin.token)" = "$token" ] || fail "a second configure replaced the admin token"
[ "$(getent passwd | grep -c '^dalaba:')" = 1 ] || fail "a second configure added another dalaba user"
check "installed: binaries need no Swift libraries, user dalaba in audio, state 0750, admin.token 0640, unit verified"

# --- doctor: the installed configuration parses; on the null device as the dalaba user everything passes
doctor_installed=$(dalaba doctor --config /etc/dalaba/dalaba.toml 2>&1 || true)
grep -q "^ok    configuration: /etc/dalaba/dalaba.toml parses" <<<"$doctor_installed" || fail "installed configuration: $doctor_installed"
sed 's/^name = "plughw:0"/name = "null"/' /etc/dalaba/dalaba.toml >"$work/doctor.toml"
chmod 0644 "$work/doctor.toml"
doctor=$(setpriv --reuid dalaba --regid dalaba --init-groups -- dalaba doctor --config "$work/doctor.toml" 2>&1) ||
    fail "dalaba doctor as the dalaba user: $doctor"
echo "$doctor"
check "dalaba doctor passes on the installed station"

# --- the daemon as the dalaba user, with the installed configuration, on the file device
install -d -o dalaba -g dalaba "$work/out"
start_daemon() {
    rm -f /var/lib/dalaba/listen
    (cd /var/lib/dalaba && exec setpriv --reuid dalaba --regid dalaba --init-groups -- /usr/bin/dalabad \
        --config /etc/dalaba/dalaba.toml --device "file:FILE=$work/out/played-$1.raw,FORMAT=raw" --listen 127.0.0.1:0) \
        >>"$work/dalabad.log" 2>&1 &
    daemon_pid=$!
    for _ in $(seq 300); do
        [ -s /var/lib/dalaba/listen ] && break
        kill -0 "$daemon_pid" 2>/dev/null || fail "dalabad exited at start"
        sleep 0.1
    done
    [ -s /var/lib/dalaba/listen ] || fail "dalabad did not listen within 30 s"
    server="http://$(cat /var/lib/dalaba/listen)"
}
# From a directory with no .dalaba/: the installed token in /var/lib/dalaba is the one found.
cd "$work"
start_daemon 1
dalaba status --server "$server" >/dev/null || fail "dalaba (root) cannot use the station with the installed token"
# A member of group dalaba finds the token too; someone outside it does not.
setpriv --reuid nobody --regid nogroup --groups dalaba -- dalaba status --server "$server" >/dev/null ||
    fail "a member of group dalaba cannot use the token"
if setpriv --reuid nobody --regid nogroup --clear-groups -- dalaba status --server "$server" >/dev/null 2>&1; then
    fail "a user outside group dalaba could use the admin token"
fi
check "the admin token works for root and group dalaba, not for others"

dalaba queue /usr/share/dalaba/audio/demo-announcement.wav --kind policy --title "package-test demo" --server "$server"
for _ in $(seq 300); do
    dalaba log --format csv --server "$server" >"$work/log1.csv" 2>/dev/null || true
    grep -q "package-test demo" "$work/log1.csv" && break
    sleep 0.1
done
grep "package-test demo" "$work/log1.csv" | grep -q "completed" || fail "no completed log row for the demo: $(cat "$work/log1.csv")"
played=$(stat -c %s "$work/out/played-1.raw")
[ "$played" -gt 4000000 ] || fail "only $played bytes reached the file device"
dalaba queue /usr/share/dalaba/audio/demo-announcement.wav --kind routine --title "package-test later" --not-before "$(date -d '+30 days' -Iseconds)" \
    --server "$server"
dalaba status --format json --server "$server" | grep -q "package-test later" || fail "the later item is not queued"
stop_daemon
check "dalabad as dalaba played the demo ($played bytes) and logged it; a later item waits in the queue"

# --- upgrade: an edited configuration, the queue and the log survive
echo "# edited by the technician" >>/etc/dalaba/dalaba.toml
dpkg -i "$deb2" >/dev/null
[ "$(dpkg-query -W -f='${Version}' dalaba)" = "$version2" ] || fail "the upgrade did not install $version2"
grep -q "^# edited by the technician" /etc/dalaba/dalaba.toml || fail "the upgrade replaced the edited configuration"
[ "$(cat /var/lib/dalaba/admin.token)" = "$token" ] || fail "the upgrade changed the admin token"
start_daemon 2
dalaba log --format csv --server "$server" | grep "package-test demo" | grep -q completed || fail "the log row is gone after the upgrade"
dalaba status --format json --server "$server" | grep -q "package-test later" || fail "the queued item is gone after the upgrade"
dalaba log verify --server "$server" >/dev/null || fail "the log's hash chain does not verify after the upgrade"
stop_daemon
check "upgraded to $version2: configuration edit, queue, log and its chain kept"

# --- remove keeps the state and the configuration; purge removes them and the user
apt-get remove -y -qq dalaba >/dev/null
[ ! -e /usr/bin/dalabad ] || fail "remove left /usr/bin/dalabad"
[ -f /var/lib/dalaba/station.sqlite ] && [ -f /var/lib/dalaba/admin.token ] || fail "remove took the state"
[ -f /etc/dalaba/dalaba.toml ] || fail "remove took the configuration"
check "removed: state and configuration kept"
apt-get purge -y -qq dalaba >/dev/null
[ ! -e /var/lib/dalaba ] || fail "purge left /var/lib/dalaba"
[ ! -e /etc/dalaba ] || fail "purge left /etc/dalaba"
! getent passwd dalaba >/dev/null || fail "purge left the dalaba user"
! getent group dalaba >/dev/null || fail "purge left the dalaba group"
[ ! -e /etc/systemd/system/multi-user.target.wants/dalabad.service ] || fail "purge left the unit enabled"
check "purged: state, configuration, user and group gone"
echo "package test passed in $((SECONDS - started)) s"
