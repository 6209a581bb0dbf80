#!/usr/bin/env bash
# `make bench-app`: cold start of the desktop app to a rendered schedule of
# 5,000 jobs (device store pre-synced, started offline with the cached
# session) versus a bare Tauri window (e2e/bare-window: one static page)
# started the same way, both through tauri-driver under Xvfb at 1366x768.
# Prints each run, the medians and their ratio.
#
#   scripts/measure-cold-start.sh [--jobs N] [--runs N]
#
# Expects the UI built (make ui) and the dependencies of `scripts/ensure-deps.sh test`.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=$HOME/.cache/fieldbook-target}"
export CARGO_TARGET_DIR

cargo build --locked -p fieldbook -p fieldbook-server
cargo build --locked --manifest-path e2e/bare-window/Cargo.toml
xvfb-run -a -s "-screen 0 1366x768x24" node e2e/cold-start.mjs "$@"
