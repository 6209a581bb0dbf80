#!/usr/bin/env bash
# `make bench-first-sign-in`: first sign-in of the desktop app to the coming
# days' jobs on screen (goal <= 2 s) and to the end of the first sync, with
# 5,000 and 10,000 installations on the server, through tauri-driver under
# Xvfb at 1366x768. Prints each run and best / median; also the DOM size and
# the WebKit web process's memory with all jobs on the device.
#
#   scripts/measure-first-sign-in.sh [--jobs 5000,10000] [--runs N] [--screenshots DIR]
#
# Expects the UI built (make ui) and the dependencies of `scripts/ensure-deps.sh test`.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=$HOME/.cache/fieldbook-target}"
export CARGO_TARGET_DIR

cargo build --locked -p fieldbook -p fieldbook-server
xvfb-run -a -s "-screen 0 1366x768x24" node e2e/first-sign-in.mjs "$@"
