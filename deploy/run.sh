#!/usr/bin/env bash
# Installs what is needed, builds, and runs the station on its embedded defaults.
# With no sound card the audio goes to a WAV file through ALSA's file plugin, and the script says where.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
swift build -c release --product dalaba
device="${DALABA_DEVICE:-}"
if [ -z "$device" ]; then
    if [ -s /proc/asound/cards ] && ! grep -q "no soundcards" /proc/asound/cards; then
        device="plughw:0"
    else
        out="${TMPDIR:-/tmp}/dalaba-output.wav"
        device="file:FILE=$out,FORMAT=wav"
        echo "No sound card found: playing to $out through ALSA's file plugin."
    fi
fi
exec .build/release/dalaba play Audio/demo-announcement.wav --device "$device"
