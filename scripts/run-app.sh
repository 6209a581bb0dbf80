#!/usr/bin/env bash
# `make run`: builds the UI, the desktop app and the central server, starts
# the server with demo data (seeded once, by scripts/run-demo.sh) in the
# background, and launches the app pointed at it. Closing the app stops the
# server.
#
# Everything lives in $run_dir: server/ (the server's data), device/ (the
# app's local store and media), credentials.txt, server.log. Delete $run_dir
# for a fresh start of both sides.
set -euo pipefail
cd "$(dirname "$0")/.."
run_dir=${1:?run dir}
addr=${2:-127.0.0.1:8787}
url="http://$addr"
: "${CARGO_TARGET_DIR:?set CARGO_TARGET_DIR (the Makefile does)}"

if curl -fsS -m 2 "$url/api/v1/health" >/dev/null 2>&1; then
  echo "Something already answers on $url: stop it, or run with ADDR=127.0.0.1:<free port>" >&2
  exit 1
fi

echo "==> building the UI"
(cd ui && npm run build --silent)
echo "==> building the app and the server"
cargo build --locked -p fieldbook -p fieldbook-server
app="$CARGO_TARGET_DIR/debug/fieldbook"

mkdir -p "$run_dir"
# run-demo.sh seeds on first use and then execs the server: its pid is the server's.
FIELDBOOK_SERVER_BIN="$CARGO_TARGET_DIR/debug/fieldbook-server" \
  scripts/run-demo.sh "$run_dir" "$addr" >"$run_dir/server.log" 2>&1 &
server_pid=$!
stop_server() {
  if kill -0 "$server_pid" 2>/dev/null; then
    echo "==> stopping the server"
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

for _ in $(seq 1 600); do
  curl -fsS -m 2 "$url/api/v1/health" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { echo "the server did not start:" >&2; cat "$run_dir/server.log" >&2; exit 1; }
  sleep 0.2
done
curl -fsS -m 2 "$url/api/v1/health" >/dev/null || { echo "the server does not answer on $url (see $run_dir/server.log)" >&2; exit 1; }

technician=$(awk -F' / ' '$3 == "technician" { sub(/^ +/, "", $1); print $1 " / " $2 " (team " $4 ")"; exit }' "$run_dir/credentials.txt")
ops=$(awk -F' / ' '$3 == "ops" { sub(/^ +/, "", $1); print $1 " / " $2; exit }' "$run_dir/credentials.txt")
cat <<EOF

  Fieldbook server:  $url   (log: $run_dir/server.log; all demo accounts: $run_dir/credentials.txt)
  Sign in as:        ${technician:-alex / alex-demo-password}
  Central Ops:       $url/console/   (in a browser; sign in as ${ops:-an ops account of credentials.txt})
  Device data:       $run_dir/device

EOF

export FIELDBOOK_SERVER_URL="$url"
export FIELDBOOK_DATA_DIR="$run_dir/device"
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "==> no display: running the app on a virtual one (xvfb-run); Ctrl-C stops it"
  xvfb-run -a -s "-screen 0 1366x768x24" "$app"
else
  "$app"
fi
