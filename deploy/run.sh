#!/usr/bin/env bash
# Installs what is needed, builds, and runs the station daemon on its embedded defaults (127.0.0.1:8780, state in
# ./.dalaba, audio from ./Audio, schedules from ./Schedules). With no sound card the audio goes to a WAV file through
# ALSA's file plugin, and the script says where. Stop it with Ctrl-C: the item on air is recorded and the queue kept.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
swift build -c release --product dalabad
swift build -c release --product dalaba
device="${DALABA_DEVICE:-}"
if [ -z "$device" ]; then
    if [ -s /proc/asound/cards ] && ! grep -q "no soundcards" /proc/asound/cards; then
        device="plughw:0"
    else
        out="${TMPDIR:-/tmp}/dalaba-output.wav"
        device="file:FILE=$out,FORMAT=wav"
        echo "No sound card found: the station plays to $out through ALSA's file plugin."
    fi
fi
echo "Queue something from another terminal in $(pwd):"
echo "  .build/release/dalaba queue demo-announcement.wav --kind policy --title 演示"
echo "  .build/release/dalaba status"
exec .build/release/dalabad --device "$device"
