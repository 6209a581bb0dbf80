#!/usr/bin/env bash
# Installs what building and testing Fieldbook needs on a fresh Debian/Ubuntu
# machine, and nothing when it is already there (so `make test` stays fast on
# a machine that has run it before).
#
#   scripts/ensure-deps.sh build   # compilers and -dev packages for the Rust workspace
#   scripts/ensure-deps.sh bench   # + tools the benchmarks compare against (vipsthumbnail, curl)
set -euo pipefail

want=(build-essential pkg-config cmake nasm curl ca-certificates)
case "${1:-build}" in
  build) ;;
  bench) want+=(libvips-tools) ;;
  *) echo "usage: $0 build|bench" >&2; exit 2 ;;
esac

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

if ((${#missing[@]})); then
  echo "==> installing system packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

command -v cargo >/dev/null || {
  echo "cargo not found: install Rust with rustup (https://rustup.rs) and re-run" >&2
  exit 1
}
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
