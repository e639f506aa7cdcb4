#!/usr/bin/env bash
# Two figures for the "beyond files" features, each against a peer in the same run:
#   1. Time to first audio for a 200-character Mandarin text announcement, synthesis included: `dalaba queue --text`
#      to the daemon's first frame handed to ALSA (device null), first time (synthesis) and again (cache hit);
#      peer: espeak-ng alone writing the same text to a WAV.
#   2. Loudness measurement throughput (EBU R128 integrated + true peak) of `dalaba loudness` on a 10-minute 44.1 kHz
#      stereo file vs `ffmpeg -af ebur128=peak=true` (installed from Debian when missing), as a ratio of CPU time.
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/install-deps.sh
command -v ffmpeg >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null; }
swift build -c release --product dalaba --scratch-path .build-bench >/dev/null
swift build -c release --product dalabad --scratch-path .build-bench >/dev/null
BIN=.build-bench/release
WORK=$(mktemp -d)
trap 'kill $(cat "$WORK/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT
cpu() { /usr/bin/time -f '%U %S' "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%.3f", $1 + $2}'; }

TEXT="各位村民请注意：根据县防汛抗旱指挥部通知，受强降雨影响，今天夜间到明天白天我村沿河地区可能发生山洪和地质灾害。请沿河居住的群众提前做好转移准备，老人和儿童由村干部负责安排，转移到村小学避险点。不要在河边停留，不要涉水过河，不要在危房和山脚下避雨。各村民小组长要逐户通知到位，确保不漏一户、不落一人。如遇紧急情况，请拨打村委会值班电话。请大家互相转告，特别是外出务工人员的家属。谢谢大家的配合。"
echo "text: ${#TEXT} characters"
mkdir -p "$WORK/audio" "$WORK/state"
cp Audio/chime.wav Audio/attention.wav "$WORK/audio/"
cat > "$WORK/dalaba.toml" <<TOML
log-level = "debug"
[device]
name = "null"
[station]
state-directory = "$WORK/state"
audio-directory = "$WORK/audio"
schedules-directory = "$WORK/none"
[http]
listen = "127.0.0.1:18781"
TOML
$BIN/dalabad --config "$WORK/dalaba.toml" > "$WORK/daemon.log" 2>&1 & echo $! > "$WORK/pid"
for _ in $(seq 100); do [ -s "$WORK/state/admin.token" ] && curl -s -o /dev/null "http://127.0.0.1:18781/v1/status" && break; sleep 0.1; done
TOKEN=$(cat "$WORK/state/admin.token")
first_audio() {
    local id=$1 start end
    start=$(date +%s.%N)
    $BIN/dalaba queue --text "$TEXT" --kind policy --id "$id" --server http://127.0.0.1:18781 --token "$TOKEN" >/dev/null
    until grep -q "id=$id latency-us" "$WORK/daemon.log" 2>/dev/null; do sleep 0.005; done
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }' 
}
t1=$(first_audio tts-1)
t2=$(first_audio tts-2-same-text)
sleep 0.2
peer=$( { /usr/bin/time -f '%e' espeak-ng -v cmn -w "$WORK/peer.wav" "$TEXT"; } 2>&1 | tail -1)
printf "1. time to first audio, 200-char Mandarin text: %.3f s (synthesis), %.3f s (cached); espeak-ng alone %.3f s; ratio %.2f\n" "$t1" "$t2" "$peer" "$(awk -v a="$t1" -v b="$peer" 'BEGIN { print a / b }')"

sox -n -r 44100 -c 2 -b 16 "$WORK/long.wav" synth 600 pinknoise vol 0.3
ours=$(cpu $BIN/dalaba loudness "$WORK/long.wav")
theirs=$(cpu ffmpeg -nostats -hide_banner -i "$WORK/long.wav" -af ebur128=peak=true -f null -)
$BIN/dalaba loudness "$WORK/long.wav"
ffmpeg -nostats -hide_banner -i "$WORK/long.wav" -af ebur128=peak=true -f null - 2>&1 | grep -E "I:|Peak:" | tail -2
printf "2. loudness of 10 min 44.1k stereo: dalaba %.3f s CPU, ffmpeg %.3f s CPU; ffmpeg/dalaba %.2f (above 1 = dalaba faster)\n" "$ours" "$theirs" "$(awk -v a="$theirs" -v b="$ours" 'BEGIN { print a / b }')"
