#!/usr/bin/env bash
# The test command. Installs the Debian packages the build and the suite need
# (as root; otherwise it says what to run), starts two Kafka-protocol brokers,
# Azurite and (if none is running) PostgreSQL, runs the whole workspace's
# tests against them, and stops what it started, also on failure or Ctrl-C.
# Extra arguments go to the test runner.
set -uo pipefail
cd "$(dirname "$0")/.."
source tests/services.sh
trap lap_stop_services EXIT
trap 'exit 130' INT TERM

command -v cargo >/dev/null || { echo "cargo is missing: install Rust from https://rustup.rs and run this again" >&2; exit 1; }
lap_install_packages || exit 1
lap_start_services || { echo "could not start the test services (see messages above)" >&2; exit 1; }

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --cargo-profile suite --no-fail-fast "$@"
else
  echo "cargo-nextest not found; using cargo test (install: cargo install cargo-nextest)" >&2
  cargo test --workspace --profile suite --no-fail-fast "$@"
fi
