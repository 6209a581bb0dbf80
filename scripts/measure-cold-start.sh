#!/usr/bin/env bash
# `make bench-app`: cold start of the desktop app to a rendered schedule of
# 5,000 jobs (device store pre-synced, started offline with the cached
# session) versus a bare Tauri window (e2e/bare-window: one static page)
# started the same way, both through tauri-driver under Xvfb at 1366x768.
# Prints each run, the medians and their ratio.
#
#   scripts/measure-cold-start.sh [--release] [--jobs N] [--runs N]
#
# --release builds and measures both windows in the release profile, the way
# a technician's laptop runs the app (the default dev profile optimises
# dependencies but not our crates). The server stays a dev build: it only
# serves the pre-sync, which is not measured.
#
# Expects the UI built (make ui) and the dependencies of `scripts/ensure-deps.sh test`.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=$HOME/.cache/fieldbook-target}"
export CARGO_TARGET_DIR

profile=debug
if [ "${1:-}" = "--release" ]; then
  profile=release
  shift
fi
profile_flag=()
[ "$profile" = release ] && profile_flag=(--release)

cargo build --locked -p fieldbook-server
cargo build --locked "${profile_flag[@]}" -p fieldbook
cargo build --locked "${profile_flag[@]}" --manifest-path e2e/bare-window/Cargo.toml
FIELDBOOK_APP_BIN="$CARGO_TARGET_DIR/$profile/fieldbook" \
  xvfb-run -a -s "-screen 0 1366x768x24" \
  node e2e/cold-start.mjs --bare "$CARGO_TARGET_DIR/$profile/fieldbook-bare-window" "$@"
