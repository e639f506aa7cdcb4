#!/usr/bin/env bash
# Installs what the tests need and runs every test: unit tests, real-ALSA tests on the file and null devices,
# paced tests on jackd's dummy driver, and end-to-end tests with real dalaba/dalabad processes; then fuzzes each parser.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
swift build --build-tests
swift test --skip-build
$([ "$(id -u)" -eq 0 ] || echo sudo) deploy/package-test.sh  # the .deb: build, lintian, install, run, upgrade, remove, purge
# Each fuzz target 30 s under libFuzzer and AddressSanitizer, in its own build (.build/fuzz): a few minutes in all.
Tests/Fuzz/run.sh 30
