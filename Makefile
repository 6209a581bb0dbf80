# Fieldbook — the two commands of the README, and a few helpers.
#
#   make run    the central server with demo data (and, once it lands, the desktop app)
#   make test   formatting, lints and every test
#
# The cargo target directory lives outside the clone so that repeated runs
# (and CI on the same machine) build incrementally.

export CARGO_TARGET_DIR ?= $(HOME)/.cache/fieldbook-target
export CARGO_TERM_COLOR ?= never

RUN_DIR ?= $(CURDIR)/.fieldbook-run
ADDR ?= 127.0.0.1:8787

.PHONY: run test deps lint unit bench

deps:
	scripts/ensure-deps.sh build

lint: deps
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

unit: deps
	cargo test --workspace --locked

test: lint unit

run: deps
	scripts/run-demo.sh "$(RUN_DIR)" "$(ADDR)"

bench:
	scripts/ensure-deps.sh bench
	cargo bench --workspace --locked
