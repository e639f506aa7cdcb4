#!/usr/bin/env bash
# Preemption latency of the real daemon on the paced virtual card (jackd dummy + ALSA file plugin), 100 trials:
# (a) inside: the station accepting an emergency → its first frame handed to ALSA;
# (b) as heard: attention-signal onset in the capture − the capture's length when the API answered.
# For scale (from the issue): Liquidsoap 2.1.3 on the same virtual card measures about 800 ms as heard when tuned.
# Options: DALABA_BENCH_TRIALS (100), DALABA_BENCH_PERIOD / DALABA_BENCH_BUFFER (frames; default: the daemon's).
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/install-deps.sh
swift build --build-tests
DALABA_BENCH=1 swift test --skip-build --filter PreemptionBenchmark 2>&1 | grep -E "^BENCH|✘|error" || true
