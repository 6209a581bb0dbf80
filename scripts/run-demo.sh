#!/usr/bin/env bash
# `make run-server` (and, in the background, `make run` via run-app.sh): builds
# the central server, seeds demo data on first use and serves it on localhost.
# The demo credentials are printed by the seed step and kept in
# $run_dir/credentials.txt.
set -euo pipefail
run_dir=${1:?run dir}
addr=${2:-127.0.0.1:8787}
data_dir="$run_dir/server"

# The dev profile shares the test build cache and optimises dependencies.
# run-app.sh has built the server already (together with the app, so with the
# app's feature set): building it alone here would rebuild it differently.
if [ -n "${FIELDBOOK_SERVER_BIN:-}" ]; then
  bin=$FIELDBOOK_SERVER_BIN
else
  cargo build --locked -p fieldbook-server
  bin="$CARGO_TARGET_DIR/debug/fieldbook-server"
fi

if [ ! -f "$run_dir/credentials.txt" ]; then
  mkdir -p "$run_dir"
  "$bin" seed-demo --data-dir "$data_dir" | tee "$run_dir/credentials.txt.tmp"
  mv "$run_dir/credentials.txt.tmp" "$run_dir/credentials.txt"
else
  echo "==> using the demo data in $data_dir (delete $run_dir for a fresh seed)"
  cat "$run_dir/credentials.txt"
fi

ops=$(awk -F' / ' '$3 == "ops" { sub(/^ +/, "", $1); print $1 " / " $2; exit }' "$run_dir/credentials.txt")
echo "==> Fieldbook server on http://$addr (Ctrl-C to stop)"
echo "==> Central Ops console: http://$addr/console/ (sign in as ${ops:-an ops account above})"
exec "$bin" serve --addr "$addr" --data-dir "$data_dir"
