#!/usr/bin/env bash
# Builds the two Debian packages: the desktop app through the Tauri bundler
# (`tauri bundle --bundles deb`, tauri-cli from npm) and the server through cargo-deb
# (server/Cargo.toml's [package.metadata.deb]: binary, config file, systemd
# unit, maintainer scripts). Both binaries come from ONE cargo build of the
# two packages together (the same feature set as `make e2e`), so the debug
# variant reuses the test build's artifacts.
#
#   scripts/build-packages.sh release OUT_DIR   # `make package`
#   scripts/build-packages.sh debug OUT_DIR     # the install test (`make test-packages`)
#
# Expects ui/dist and console/dist built and `scripts/ensure-deps.sh package`.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:?release or debug}
out_dir=${2:?output directory}
: "${CARGO_TARGET_DIR:?set CARGO_TARGET_DIR (the Makefile does)}"
tools_dir=${FIELDBOOK_TOOLS_DIR:-$HOME/.cache/fieldbook-tools}
export PATH="$tools_dir/bin:$tools_dir/tauri-cli/node_modules/.bin:$PATH"

case "$profile" in
  release) cargo_flags=(--release) tauri_flags=() deb_profile=release ;;
  debug) cargo_flags=() tauri_flags=(--debug) deb_profile=dev ;;
  *) echo "usage: $0 release|debug OUT_DIR" >&2; exit 2 ;;
esac
bin_dir="$CARGO_TARGET_DIR/$([ "$profile" = release ] && echo release || echo debug)"

start=$(date +%s)
echo "==> cargo build ${cargo_flags[*]} -p fieldbook -p fieldbook-server"
cargo build --locked "${cargo_flags[@]}" -p fieldbook -p fieldbook-server
built=$(date +%s)

rm -rf "$bin_dir/bundle/deb"
echo "==> the desktop app's .deb (Tauri bundler)"
# TAURI_CONFIG (a JSON merge into tauri.conf.json, e.g. another version or
# update key) reaches the compiled app through tauri-build; the bundler gets
# the same merge so the package says the same.
[ -z "${TAURI_CONFIG:-}" ] || tauri_flags+=(--config "$TAURI_CONFIG")
(cd src-tauri && tauri bundle "${tauri_flags[@]}" --bundles deb --ci)
echo "==> the server's .deb (cargo-deb)"
mkdir -p "$out_dir"
rm -f "$out_dir"/*.deb
cargo deb -p fieldbook-server --no-build --profile "$deb_profile" --output "$out_dir"
cp "$bin_dir"/bundle/deb/*.deb "$out_dir"/
done_at=$(date +%s)

echo "==> packages in $out_dir (cargo build $((built - start)) s, bundling $((done_at - built)) s):"
for deb in "$out_dir"/*.deb; do
  printf '    %s  %s\n' "$(du -h "$deb" | cut -f1)" "$deb"
done
