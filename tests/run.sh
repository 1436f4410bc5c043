#!/usr/bin/env bash
# The test command. Starts two Kafka-protocol brokers and (if none is running)
# PostgreSQL, runs the whole workspace's tests against them, and stops what it
# started, also on failure or Ctrl-C. Extra arguments go to the test runner.
set -uo pipefail
cd "$(dirname "$0")/.."
source tests/services.sh
trap lap_stop_services EXIT
trap 'exit 130' INT TERM

if ! command -v promtool >/dev/null; then
  echo "promtool is missing (Debian package: prometheus); install it: apt-get install prometheus" >&2
  exit 1
fi
lap_start_services || { echo "could not start the test services (see messages above)" >&2; exit 1; }

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  echo "cargo-nextest not found; using cargo test (install: cargo install cargo-nextest)" >&2
  cargo test --workspace --no-fail-fast "$@"
fi
