#!/usr/bin/env bash
# `make test-packages`: the two .deb packages installed on this machine as a
# company would, used, and removed again.
#
#  1. Build debug-profile packages (scripts/build-packages.sh debug): the
#     same binaries as the test build, bundled.
#  2. dpkg -i both. Check the fieldbook user, /var/lib/fieldbook-server,
#     /etc/fieldbook-server/config.toml and the systemd unit
#     (`systemd-analyze verify` when present).
#  3. Start the server exactly as the unit's ExecStart says, as the unit's
#     User= (there is no systemd as PID 1 in CI containers), on a free port
#     set in the installed config file; create a technician, a team and a
#     job with the installed CLI; back the database up while it serves.
#  4. Sign in from the INSTALLED app (/usr/bin/fieldbook) under Xvfb with
#     tauri-driver (e2e/tests/installed-app.test.mjs); screenshot
#     docs/screenshots/12-installed-from-deb.png.
#  4b. The update loop. Both app packages of this test trust an update key
#     made for the test (`tauri signer generate`; TAURI_CONFIG sets
#     plugins.updater.pubkey at build time): version N (the workspace's) is
#     installed, N+1 (same code, version bumped) is signed with
#     `tauri signer sign --app-version` and published with the installed
#     server's `publish-update`. The installed app finds it, downloads and
#     verifies it, and after "Install and restart…" the plugin installs it
#     (`dpkg -i` through sudo: the plugin tries pkexec first, which needs a
#     polkit agent this machine has not) and the app restarts; it opens
#     again on the same data. Screenshot 13-update-ready.png.
#  5. dpkg -r both: every file the packages installed is gone except the
#     server's config file (a conffile) and its data. dpkg --purge: the
#     config file and the unit's enablement are gone too; only the data
#     directory and the fieldbook user that owns it remain.
#
# Needs root (dpkg) and refuses to run where either package is installed.
# Cleans up after itself (also on failure): purges both packages and
# deletes the test's data directory and the fieldbook user it created.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:?set CARGO_TARGET_DIR (the Makefile does)}"
repo=$(pwd)

# dpkg needs root: a developer's `make test` asks sudo once, keeping the
# cargo/tool locations and PATH of the caller.
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "test-packages installs packages with dpkg: run it as root (sudo is not installed)" >&2; exit 1; }
  exec sudo --preserve-env=CARGO_TARGET_DIR,FIELDBOOK_TOOLS_DIR,CARGO_HOME,RUSTUP_HOME,HOME,PATH "$0" "$@"
fi
for pkg in fieldbook fieldbook-server; do
  if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    echo "$pkg is installed on this machine; this test installs and purges it: remove it first" >&2
    exit 1
  fi
done
if [ -e /var/lib/fieldbook-server ] || getent passwd fieldbook >/dev/null; then
  echo "/var/lib/fieldbook-server or the fieldbook user exists (a real installation's data?): move it away first" >&2
  exit 1
fi

# One run at a time: the packages are installed system-wide.
exec 8>/tmp/fieldbook-test-packages.lock
flock 8

work=$(mktemp -d /tmp/fieldbook-packages.XXXXXX)
chmod 0755 "$work"
pkg_dir="$CARGO_TARGET_DIR/packages-debug"
server_pid=""
ok=0
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  dpkg --purge fieldbook fieldbook-server >/dev/null 2>&1 || true
  rm -rf /var/lib/fieldbook-server
  getent passwd fieldbook >/dev/null && userdel fieldbook 2>/dev/null || true
  getent group fieldbook >/dev/null && groupdel fieldbook 2>/dev/null || true
  if [ "$ok" = 1 ]; then rm -rf "$work"; else echo "kept $work (server.log, app.log, file lists) for inspection" >&2; fi
}
trap cleanup EXIT

step() { printf '\n==> %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
t0=$(date +%s)

step "an update signing key for this test"
tools_dir=${FIELDBOOK_TOOLS_DIR:-$HOME/.cache/fieldbook-tools}
tauri_cli="$tools_dir/tauri-cli/node_modules/.bin/tauri"
"$tauri_cli" signer generate --ci -p "" -w "$work/update.key" -f >/dev/null
update_pubkey=$(cat "$work/update.key.pub")
# tauri.conf.json has no version of its own: the app's is the workspace's.
version=$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml", "rb"))["workspace"]["package"]["version"])')
next_version=$(python3 -c 'import sys; v = sys.argv[1].split("."); v[-1] = str(int(v[-1]) + 1); print(".".join(v))' "$version")
echo "app $version is installed, $next_version is published as its update"

step "building debug-profile packages ($version, then the update $next_version)"
TAURI_CONFIG="{\"plugins\":{\"updater\":{\"pubkey\":\"$update_pubkey\"}}}" \
  scripts/build-packages.sh debug "$pkg_dir"
TAURI_CONFIG="{\"version\":\"$next_version\",\"plugins\":{\"updater\":{\"pubkey\":\"$update_pubkey\"}}}" \
  scripts/build-packages.sh debug "$work/next"
update_deb=$(ls "$work"/next/*.deb | grep -v '/fieldbook-server_')
[ "$(dpkg-deb -f "$update_deb" Version)" = "$next_version" ] || fail "the update package is $(dpkg-deb -f "$update_deb" Version)"
app_deb=$(ls "$pkg_dir"/*.deb | grep -v '/fieldbook-server_')
[ "$(dpkg-deb -f "$app_deb" Version)" = "$version" ] || fail "the app package is $(dpkg-deb -f "$app_deb" Version)"
server_deb=$(ls "$pkg_dir"/fieldbook-server_*.deb)
app_pkg=$(dpkg-deb -f "$app_deb" Package)
[ "$app_pkg" = fieldbook ] || fail "the app's package is called $app_pkg, expected fieldbook"
t_built=$(date +%s)

step "dpkg -i $(basename "$server_deb") $(basename "$app_deb")"
dpkg -i "$server_deb" "$app_deb"
dpkg -L fieldbook-server | sort >"$work/server-files.txt"
dpkg -L fieldbook | sort >"$work/app-files.txt"
echo "the server package installed:"; sed 's/^/    /' "$work/server-files.txt"
echo "the app package installed:"; sed 's/^/    /' "$work/app-files.txt"

step "what the server package set up"
getent passwd fieldbook | grep -q ':/var/lib/fieldbook-server:/usr/sbin/nologin$' \
  || fail "the fieldbook system user: $(getent passwd fieldbook)"
[ "$(stat -c '%U:%G %a' /var/lib/fieldbook-server)" = "fieldbook:fieldbook 750" ] \
  || fail "/var/lib/fieldbook-server is $(stat -c '%U:%G %a' /var/lib/fieldbook-server)"
config=/etc/fieldbook-server/config.toml
[ "$(stat -c '%U:%G %a' "$config")" = "root:fieldbook 640" ] || fail "$config is $(stat -c '%U:%G %a' "$config")"
grep -qx "$config" /var/lib/dpkg/info/fieldbook-server.conffiles || fail "$config is not a conffile"
unit=$(grep '/fieldbook-server\.service$' "$work/server-files.txt") || fail "no systemd unit in the package"
echo "user fieldbook, /var/lib/fieldbook-server (fieldbook 0750), $config (root:fieldbook 0640, conffile), $unit"
if command -v systemd-analyze >/dev/null; then
  # Verifies the unit's syntax, its options and that ExecStart's binary exists.
  if ! verify=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$unit" 2>&1) || [ -n "$verify" ]; then
    echo "$verify" >&2
    fail "systemd-analyze verify $unit complained"
  fi
  echo "systemd-analyze verify: clean"
else
  echo "systemd-analyze not installed: unit not verified"
fi
[ -L /etc/systemd/system/multi-user.target.wants/fieldbook-server.service ] || fail "the unit was not enabled"

step "starting the server as the unit's ExecStart, as User=$(sed -n 's/^User=//p' "$unit")"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# What an operator does: edit the installed config file.
sed -i "s/^addr = .*/addr = \"127.0.0.1:$port\"/" "$config"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
run_as=$(sed -n 's/^User=//p' "$unit")
umask_unit=$(sed -n 's/^UMask=//p' "$unit")
[ -n "$exec_start" ] && [ -n "$run_as" ] || fail "the unit has no ExecStart or User"
echo "$exec_start"
# shellcheck disable=SC2086 # ExecStart is split into words as systemd does (no quotes in it)
setpriv --reuid="$run_as" --regid="$run_as" --init-groups --inh-caps=-all \
  sh -c "umask ${umask_unit:-0022}; exec $exec_start" >"$work/server.log" 2>&1 &
server_pid=$!
url="http://127.0.0.1:$port"
for _ in $(seq 1 300); do
  curl -fsS -m 2 "$url/api/v1/health" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; fail "the server exited"; }
  sleep 0.2
done
curl -fsS "$url/api/v1/health"; echo
[ "$(stat -c %U /var/lib/fieldbook-server/fieldbook.sqlite3)" = fieldbook ] || fail "the database is not the service user's"

step "a technician, a team and a job, with the installed CLI (as the service user)"
cli() { setpriv --reuid=fieldbook --regid=fieldbook --init-groups /usr/bin/fieldbook-server --config "$config" "$@"; }
password="installed-$(date +%s)-pass"
FIELDBOOK_PASSWORD="$password" cli user add --username pat --full-name "Pat Packaged" --role technician
FIELDBOOK_PASSWORD="ops-$password" cli user add --username planner --full-name "Pia Planner" --role ops
cli team add --name "Package Crew" --member pat
customer="Dora Debian"
job=$(cli installation create --created-by planner --customer-name "$customer" --address "1 Dpkg Lane" \
  --city Leeds --postcode "LS1 4AP" --charger-model "Zappi 7kW" --date "$(date +%F)" --slot morning | cut -d' ' -f1)
cli installation assign --installation "$job" --team "Package Crew" --assigned-by planner
cli installation transition --installation "$job" --to confirmed

step "publishing $next_version as an update, signed off the server"
"$tauri_cli" signer sign -f "$work/update.key" -p "" --app-version "$next_version" "$update_deb" >/dev/null
chmod 0644 "$update_deb" "$update_deb.sig"
cli publish-update --file "$update_deb" --signature "$update_deb.sig" --version "$next_version" \
  --notes "The update the package test installs"
curl -fsS "$url/api/v1/updates/linux-x86_64-deb/$version" | head -c 300; echo

step "an online backup of the installed server's database"
/usr/bin/fieldbook-server --config "$config" backup --to "$work/backup.sqlite3"

step "signing in from the installed app (/usr/bin/fieldbook) under Xvfb"
t_app=$(date +%s)
FIELDBOOK_APP_BIN=/usr/bin/fieldbook FIELDBOOK_PKG_SERVER_URL="$url" \
  FIELDBOOK_PKG_USERNAME=pat FIELDBOOK_PKG_PASSWORD="$password" FIELDBOOK_PKG_CUSTOMER="$customer" \
  FIELDBOOK_PKG_WORK_DIR="$work" FIELDBOOK_PKG_UPDATE_VERSION="$next_version" \
  xvfb-run -a -s "-screen 0 1366x768x24" node --test --test-reporter=spec e2e/tests/installed-app.test.mjs
t_app_done=$(date +%s)

step "stopping the server with SIGTERM (as systemctl stop does)"
kill -TERM "$server_pid"
status=0; wait "$server_pid" || status=$?
server_pid=""
[ "$status" = 0 ] || { cat "$work/server.log" >&2; fail "the server exited with $status on SIGTERM"; }
echo "exited 0"

# Paths of the packages that are files or links (directories like /usr/bin are shared).
owned_files() { while read -r path; do [ -d "$path" ] && [ ! -L "$path" ] || echo "$path"; done <"$1"; }
owned_files "$work/server-files.txt" >"$work/server-owned.txt"
owned_files "$work/app-files.txt" >"$work/app-owned.txt"
still_there() { while read -r path; do [ -e "$path" ] || [ -L "$path" ] && echo "$path"; done; true; }

step "dpkg -r fieldbook fieldbook-server"
dpkg -r fieldbook fieldbook-server
left=$(cat "$work/server-owned.txt" "$work/app-owned.txt" | still_there)
echo "installed files still present after remove:"; echo "${left:-    (none)}" | sed 's/^/    /'
[ "$left" = "$config" ] || fail "after dpkg -r only $config (a conffile) may remain"
[ -s /var/lib/fieldbook-server/fieldbook.sqlite3 ] || fail "dpkg -r deleted the data"

step "dpkg --purge fieldbook fieldbook-server"
dpkg --purge fieldbook fieldbook-server
left=$(cat "$work/server-files.txt" "$work/app-files.txt" | grep -e fieldbook -e Fieldbook | still_there)
[ -z "$left" ] || fail "after purge these are still there: $left"
enabled=$(find /etc/systemd /var/lib/systemd -name 'fieldbook-server*' 2>/dev/null || true)
[ -z "$enabled" ] || fail "after purge the unit's enablement is still there: $enabled"
for pkg in fieldbook fieldbook-server; do
  if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q installed; then fail "$pkg is still known to dpkg"; fi
done
echo "left on the machine, as intended (the data and the user that owns it):"
find /var/lib/fieldbook-server -maxdepth 1 | sed 's/^/    /'
getent passwd fieldbook | sed 's/^/    /'
[ -s /var/lib/fieldbook-server/fieldbook.sqlite3 ] || fail "purge deleted the data"

ok=1
t_end=$(date +%s)
printf '\n==> packages OK: build %d s, install + server + CLI + app sign-in %d s (app %d s), total %d s\n' \
  $((t_built - t0)) $((t_end - t_built)) $((t_app_done - t_app)) $((t_end - t0))
du -h "$pkg_dir"/*.deb | sed 's/^/    /'
