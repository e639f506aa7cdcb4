#!/usr/bin/env bash
# Installs every Debian 12 package Dalaba needs to build, run and test. Safe to run again.
set -euo pipefail
packages=(
    pkg-config libasound2-dev libsndfile1-dev libsamplerate0-dev libsoxr-dev libebur128-dev libsqlite3-dev
    libxmlsec1-dev libxml2-dev libssl-dev  # CAP XML-DSig (xmlsec1 with OpenSSL)
    alsa-utils libasound2-plugins jackd2 sox espeak-ng sqlite3 time python3
    chromium fonts-wqy-zenhei  # the console test in a real browser, and a CJK font so its screenshots show Chinese
    mosquitto mosquitto-clients libmosquitto-dev postgresql openssl  # the county platform: broker, central log, test CA
    libgpiod-dev gpiod  # the amplifier's gpio backend
    icecast2 ezstream  # relays: an Icecast server and a source client on loopback
    libmpg123-dev mpg123  # relays: MP3 streams decoded through the feed API; mpg123 is the relay benchmark's peer
    libvorbis-dev libopusfile-dev  # relays: Ogg Vorbis and Ogg Opus streams (libvorbisfile, libopusfile over a pipe)
    dpkg-dev fakeroot lintian man-db systemd adduser binutils  # the Debian package: build, check, install
    libcurl4-openssl-dev  # the package links Foundation statically: its URLSession needs -lcurl at link time
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "installing: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
