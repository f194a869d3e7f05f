#!/usr/bin/env bash
# Runs every test: unit tests, API tests against an in-process server, and the
# end-to-end tests that start a real `k1s server` and drive it with kubectl.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --bin k1s
cargo test --workspace -- --test-threads=2
