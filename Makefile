# Fieldbook — the two commands of the README, and a few helpers.
#
#   make run        the desktop app against a local server with demo data
#   make run-server only that server
#   make test       formatting, lints, every Rust and UI test, the end-to-end suites,
#                   the server/sync/conformance tests again on PostgreSQL (make test-postgres),
#                   and last the .deb install test (make test-packages)
#   make bench      the criterion benchmarks
#   make bench-app  cold start of the app to a 5,000-job schedule vs. a bare window
#   make bench-first-sign-in  first sign-in to the coming days' jobs with 5,000 and 10,000 jobs
#   make bench-fleet  50/200/500 devices syncing at once against the real server on SQLite and
#                   PostgreSQL (one and two instances), beside pgbench's insert rate (minutes)
#   make bench-move  migrate-storage of the demo server and a 10,000-installation server with
#                   photos into PostgreSQL + a bucket, beside pg_dump|psql and a put loop (minutes)
#   make fuzz       each fuzz target for FUZZ_SECONDS (cargo fuzz; `make test`
#                   replays their committed seed corpus)
#   make soak       the store's kill-during-save loop for 1,000 rounds and the
#                   sync kill loop for 200, with their counts
#   make package    the desktop app's and the server's .deb packages (release) in dist/
#   make test-packages  install both (debug builds) with dpkg (root, or sudo), use them, remove them
#   make test-s3    the blob tests again with blobs in an S3-compatible store (moto, started
#                   by the tests; part of make test)
#   make test-postgres  the server's tests, the sync engine's integration tests and the
#                   conformance suite against PostgreSQL (a throwaway cluster per test binary)
#   make test-postgres-2  the same tests with every test server run as two instances on one
#                   PostgreSQL database and one S3 bucket, behind a round-robin front
#   make conformance URL=… OPS_USER=…  the protocol conformance suite against any server
#                   (password in FIELDBOOK_CONFORMANCE_OPS_PASSWORD)
#
# The cargo target directory lives outside the clone so that repeated runs
# (and CI on the same machine) build incrementally.

export CARGO_TARGET_DIR ?= $(HOME)/.cache/fieldbook-target
export CARGO_TERM_COLOR ?= never
# Incremental caches add GBs per test binary (there are ~90) and gain little
# when a whole suite is rebuilt; developers who want them set it to 1.
export CARGO_INCREMENTAL ?= 0
export FIELDBOOK_TOOLS_DIR ?= $(HOME)/.cache/fieldbook-tools

RUN_DIR ?= $(CURDIR)/.fieldbook-run
ADDR ?= 127.0.0.1:8787
# No window manager and no display in CI: one virtual 1366x768 screen.
XVFB_RUN = xvfb-run -a -s "-screen 0 1366x768x24"

.PHONY: run run-server test deps test-deps ui lint unit ui-test e2e bench bench-app console console-test console-e2e fuzz soak package test-packages bench-first-sign-in test-s3

deps:
	scripts/ensure-deps.sh build

test-deps:
	scripts/ensure-deps.sh test

# ui/dist must exist before any cargo command that touches the app crate
# (tauri's frontendDist is checked at compile time).
ui: deps
	cd ui && npm run build

# console/dist is embedded in fieldbook-server (served at /console/): it must
# exist before any cargo command that builds the server.
console: deps
	cd console && npm run build

lint: ui console
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

unit: ui console
	scripts/ensure-deps.sh postgres
	scripts/ensure-deps.sh s3
	cargo test --workspace --locked

ui-test: test-deps
	cd ui && npm run check
	cd ui && npm test

e2e: test-deps ui console
	cargo build --locked -p fieldbook -p fieldbook-server
	$(XVFB_RUN) npm --prefix e2e test

test: lint unit test-s3 ui-test console-test e2e console-e2e test-postgres test-postgres-2 test-packages

# The blob tests and the server's blob API tests with FIELDBOOK_TEST_BLOB_STORE=s3:
# the same tests, each data dir with a bucket of its own on a moto server the
# tests start (docs/blob-store.md). blob_store_s3 runs in `unit` too.
test-s3: console
	scripts/ensure-deps.sh s3
	FIELDBOOK_TEST_BLOB_STORE=s3 cargo test --workspace --locked --test blobs --test blobs_app --test blob_store_s3

console-test: test-deps
	cd console && npm run check
	cd console && npm test

# Ops in a real browser (Debian's chromium) against the real server, with a
# technician device driven by the real sync engine; writes the console's
# screenshots to docs/screenshots/console/.
console-e2e: test-deps console
	cargo build --locked -p fieldbook-server
	cargo build --locked -p fieldbook-sync --example console_device
	npm --prefix console run e2e

run: console
	scripts/ensure-deps.sh run
	scripts/run-app.sh "$(RUN_DIR)" "$(ADDR)"

# Only the server (for curl, or an app started by other means).
run-server: deps console
	scripts/run-demo.sh "$(RUN_DIR)" "$(ADDR)"

bench: console
	scripts/ensure-deps.sh bench
	cargo bench --workspace --locked

bench-app: test-deps ui console
	scripts/measure-cold-start.sh --release

bench-first-sign-in: test-deps ui console
	scripts/measure-first-sign-in.sh

# libFuzzer through cargo fuzz (`cargo install cargo-fuzz`); its nightly flags
# are allowed on the stable toolchain by RUSTC_BOOTSTRAP. Starts from the
# committed seeds in fuzz/corpus/<target>; new inputs go to fuzz/found/<target>
# (not committed), crashes to fuzz/artifacts/<target>.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= push_request push_apply tus_headers photo_import media_url
fuzz:
	cd fuzz && for target in $(FUZZ_TARGETS); do \
		mkdir -p found/$$target && \
		RUSTC_BOOTSTRAP=1 nice -n 10 cargo fuzz run $$target found/$$target corpus/$$target -- \
			-max_total_time=$(FUZZ_SECONDS) -max_len=65536 || exit 1; \
	done

# The crash loops of `make test`, run long: the store's kill-during-save loop
# (crates/store/tests/crash.rs) and the sync kill loop
# (crates/sync/tests/kill_during_sync.rs). Each prints its rounds and ends
# with a summary line: acknowledged saves lost (must be 0) and the integrity
# check (must pass every round); either failing fails the run.
SOAK_STORE_ROUNDS ?= 1000
SOAK_SYNC_ROUNDS ?= 200
soak: console
	FIELDBOOK_STORE_CRASH_ROUNDS=$(SOAK_STORE_ROUNDS) cargo test --locked --workspace --test crash -- --nocapture
	FIELDBOOK_SYNC_KILL_ROUNDS=$(SOAK_SYNC_ROUNDS) cargo test --locked --workspace --test kill_during_sync -- --nocapture
# Installable packages (docs/packaging.md): the desktop app through the
# Tauri bundler, the server through cargo-deb (systemd unit, fieldbook user,
# /etc/fieldbook-server/config.toml, /var/lib/fieldbook-server). Release build.
PACKAGE_DIR ?= $(CURDIR)/dist
package: ui console
	scripts/ensure-deps.sh package
	scripts/build-packages.sh release "$(PACKAGE_DIR)"

# As root: builds debug-profile packages (reusing the test build), installs
# them with dpkg, runs the server as its systemd unit would, signs in from
# the installed app under Xvfb, then removes and purges both and checks that
# only the server's data is left. .ci/run runs it after `make test`.
test-packages: test-deps ui console
	scripts/ensure-deps.sh package
	scripts/test-packages.sh

# The black-box protocol suite against any server (this one or another
# implementation); the ops password comes from FIELDBOOK_CONFORMANCE_OPS_PASSWORD.
.PHONY: conformance
OPS_USER ?= ops
conformance:
	@test -n "$(URL)" || { echo "usage: make conformance URL=http://host:port OPS_USER=ops"; exit 2; }
	cargo run --locked -q -p fieldbook-conformance -- --base-url "$(URL)" --ops-user "$(OPS_USER)"

# The same tests as `unit` runs for these three crates, each TestServer on a
# fresh database of a throwaway PostgreSQL cluster that each test binary
# starts (initdb into a temp dir) and stops (FIELDBOOK_TEST_DATABASE, see
# crates/testkit). `--test` per file keeps the workspace's feature set, so
# nothing is rebuilt after `make unit`.
PG_TESTS = $(foreach t,$(basename $(notdir $(wildcard server/tests/*.rs crates/sync/tests/*.rs crates/conformance/tests/*.rs))),--test $(t))
.PHONY: test-postgres
test-postgres: console
	scripts/ensure-deps.sh postgres
	FIELDBOOK_TEST_DATABASE=postgres cargo test --workspace --locked $(PG_TESTS)

# The same tests as test-postgres, each TestServer run as two `serve` instances
# on one PostgreSQL database and one S3 bucket (moto), behind a round-robin
# front that sends each request to the next instance (FIELDBOOK_TEST_INSTANCES,
# crates/testkit/src/round_robin.rs): devices, the conformance suite and the
# model-based sync test alternate instances request by request.
.PHONY: test-postgres-2
test-postgres-2: console
	scripts/ensure-deps.sh postgres
	scripts/ensure-deps.sh s3
	FIELDBOOK_TEST_DATABASE=postgres FIELDBOOK_TEST_INSTANCES=2 FIELDBOOK_TEST_BLOB_STORE=s3 \
		cargo test --workspace --locked $(PG_TESTS)

# The fleet benchmark (server/benches/fleet.rs; docs/scaling.md): starts its
# own durable PostgreSQL cluster and the release server binary. Not part of
# `make bench` or `make test`. FLEET_DEVICES, FLEET_RUNS, FLEET_SETUPS,
# FLEET_INSTALLATIONS, FLEET_TEAMS and FLEET_PHOTO_KB adjust it.
.PHONY: bench-fleet
bench-fleet: console
	scripts/ensure-deps.sh postgres
	cargo bench -p fieldbook-server --bench fleet --locked

# The storage move benchmark (server/benches/storage_move.rs; docs/storage.md):
# migrate-storage of the demo server and of a 10,000-installation server with
# photos into a durable throwaway PostgreSQL and a moto bucket, 5 runs each,
# beside pg_dump|psql and a plain put loop. Not part of `make bench` or
# `make test`. MOVE_WORLDS, MOVE_RUNS, MOVE_BIG_RUNS, MOVE_INSTALLATIONS,
# MOVE_TEAMS, MOVE_DEVICES, MOVE_PHOTOS and MOVE_PHOTO_KB adjust it.
.PHONY: bench-move
bench-move: console
	scripts/ensure-deps.sh postgres
	scripts/ensure-deps.sh s3
	cargo bench -p fieldbook-server --bench storage_move --locked
