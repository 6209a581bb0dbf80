#!/usr/bin/env bash
# Installs what building, testing and running Fieldbook needs on a fresh
# Debian/Ubuntu machine, and nothing when it is already there (so `make test`
# stays fast on a machine that has run it before: a few dpkg queries and
# timestamp checks).
#
#   scripts/ensure-deps.sh build   # compilers, webkit2gtk -dev packages, Node.js, ui/ and console/node_modules
#   scripts/ensure-deps.sh run     # build + what the desktop app needs to start (Xvfb when there is no display)
#   scripts/ensure-deps.sh test    # build + Xvfb, WebKitWebDriver, tauri-driver, ImageMagick, Chromium, e2e/node_modules
#   scripts/ensure-deps.sh bench   # build + tools the benchmarks compare against (vipsthumbnail, curl)
#   scripts/ensure-deps.sh package # build + tauri-cli (the Tauri bundler) and cargo-deb, for `make package`
#   scripts/ensure-deps.sh postgres # build + PostgreSQL's server binaries (the storage tests start a throwaway cluster)
#
# tauri-driver is installed with `cargo install` into $FIELDBOOK_TOOLS_DIR
# (default ~/.cache/fieldbook-tools), outside the clone, so CI on the same
# machine reuses it.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-build}
tools_dir=${FIELDBOOK_TOOLS_DIR:-$HOME/.cache/fieldbook-tools}

# The Tauri app links webkit2gtk 4.1 (which pulls in gtk3, soup3, JavaScriptCore).
want=(build-essential pkg-config cmake nasm curl ca-certificates libwebkit2gtk-4.1-dev)
command -v node >/dev/null && command -v npm >/dev/null || want+=(nodejs npm)
node_dirs=(ui console)
case "$mode" in
  build) ;;
  run) want+=(xvfb xauth) ;;
  test)
    want+=(xvfb xauth webkit2gtk-driver imagemagick chromium)
    # crates/certificate/tests/pdf.rs and the store's certificate test: pdftotext, pdffonts, qpdf --check.
    want+=(qpdf poppler-utils)
    # The update test (make test-packages): tauri-plugin-updater installs a
    # .deb with pkexec, else sudo; without a polkit agent here it is sudo.
    want+=(sudo)
    # crates/secrets/tests/keyring.rs: a real Secret Service on a private
    # session bus (dbus-run-session), read back with secret-tool.
    want+=(dbus-daemon gnome-keyring libsecret-tools)
    # e2e/lib/close-window.py: a window manager's close button, by libX11.
    want+=(python3 libx11-6)
    node_dirs+=(e2e)
    ;;
  bench) want+=(libvips-tools) ;;
  package) ;;
  postgres) want+=(postgresql) ;;
  # The S3 test server (moto) is installed by the tests into a virtualenv.
  s3) want+=(python3 python3-venv) ;;
  *) echo "usage: $0 build|run|test|bench|package|postgres|s3" >&2; exit 2 ;;
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
installed_components=$(rustup component list --installed 2>/dev/null || true)
grep -q '^clippy' <<<"$installed_components" && grep -q '^rustfmt' <<<"$installed_components" \
  || rustup component add clippy rustfmt

# Vite 8 needs Node.js 20.19+ (or 22.12+); Debian 12's own nodejs is 18.
node_version=$(node -p 'process.versions.node')
node -e 'const [a, b] = process.versions.node.split(".").map(Number);
  process.exit(a > 22 || (a === 22 && b >= 12) || (a === 20 && b >= 19) ? 0 : 1)' || {
  echo "Node.js $node_version is too old for the UI build (needs 20.19+ or 22.12+):" >&2
  echo "install a newer nodejs package (e.g. Debian 13's, or NodeSource's) and re-run" >&2
  exit 1
}

# npm ci only when node_modules is missing or older than the lock file
# (npm writes node_modules/.package-lock.json on every install).
for dir in "${node_dirs[@]}"; do
  [ -f "$dir/package-lock.json" ] || continue
  stamp="$dir/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
    echo "==> npm ci in $dir/"
    (cd "$dir" && npm ci --no-audit --no-fund)
  fi
done

if [ "$mode" = test ]; then
  if [ ! -x "$tools_dir/bin/tauri-driver" ]; then
    echo "==> installing tauri-driver into $tools_dir"
    # Its own temporary target dir: no need to wait for the workspace's build lock.
    env -u CARGO_TARGET_DIR cargo install --quiet --locked --root "$tools_dir" tauri-driver
  fi
fi

if [ "$mode" = package ]; then
  mkdir -p "$tools_dir"
  # One install at a time into the shared tool dir (two builds at once on
  # the same machine would race for it).
  exec 9>"$tools_dir/.install.lock"
  flock 9
  # tauri-cli from npm: a prebuilt binary in seconds (`cargo install
  # tauri-cli` compiles ~800 crates: 10-40 minutes on a shared 2-core machine).
  # The same minor version as the tauri crate in Cargo.lock.
  tauri_cli_version=2.12.5
  if [ "$("$tools_dir/tauri-cli/node_modules/.bin/tauri" --version 2>/dev/null)" != "tauri-cli $tauri_cli_version" ]; then
    echo "==> installing @tauri-apps/cli $tauri_cli_version into $tools_dir/tauri-cli"
    npm install --prefix "$tools_dir/tauri-cli" --no-audit --no-fund --no-save "@tauri-apps/cli@$tauri_cli_version"
  fi
  if [ ! -x "$tools_dir/bin/cargo-deb" ]; then
    echo "==> installing cargo-deb into $tools_dir"
    env -u CARGO_TARGET_DIR cargo install --quiet --locked --root "$tools_dir" cargo-deb
  fi
  exec 9>&-
fi
