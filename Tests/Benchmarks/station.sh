#!/usr/bin/env bash
# Station integrity under load (issue 9): queue flood latency and memory, fresh-file emergency cut-in, fsyncs per second
# of play; each reported against its goal and a peer in the same run. DALABA_BENCH_CONFIG=debug for a debug build.
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/install-deps.sh
command -v strace >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null; }
config="${DALABA_BENCH_CONFIG:-release}"
swift build -c "$config" --product dalabad
swift build -c "$config" --product dalaba
python3 Tests/Benchmarks/station.py ".build/$config" "$@"
