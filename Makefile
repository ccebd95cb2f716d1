# avarisk: `make help` lists the targets.
VENV ?= $(HOME)/.cache/avarisk/torch-2.11.0
export AVARISK_TORCH_VENV := $(VENV)
# tch builds against the libtorch inside the venv's torch package; the venv's python must come first.
export PATH := $(VENV)/bin:$(PATH)
export LIBTORCH_USE_PYTORCH := 1
CARGO ?= cargo
DEMO_ROOT ?= out

.PHONY: help setup build test check lint fmt demo bench bench-terrain bench-weather bench-train experiment-transfer

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

setup: ## install missing Debian packages and the torch venv (idempotent; seconds when done)
	@scripts/setup.sh

build: setup ## debug build of the avarisk binary
	$(CARGO) build --locked

test: setup ## run every test (unit, integration, gdaldem agreement)
	$(CARGO) test --locked

lint: setup ## cargo fmt --check and clippy -D warnings
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

check: lint test ## what CI runs: lint, then the tests

fmt: ## format the code
	$(CARGO) fmt --all

DEMO_DATE ?= 2021-02-15

demo: setup ## onboard every bundled site, then the daily pipeline for DEMO_DATE (2021-02-15) offline; outputs in out/
	$(CARGO) build --locked
	./target/debug/avarisk validate
	./target/debug/avarisk --root $(DEMO_ROOT) run onboard
	./target/debug/avarisk --root $(DEMO_ROOT) run daily --date $(DEMO_DATE) --offline

bench: bench-terrain bench-weather bench-train ## all benchmarks (release build)

bench-terrain: setup ## P1: terrain features vs gdaldem on an ~80 Mpx DEM built from the SRTM tiles
	$(CARGO) bench --locked --bench terrain

bench-weather: setup ## P4: 100 sites fetching weather concurrently from a loopback server with 200 ms latency
	$(CARGO) bench --locked --bench weather

experiment-transfer: setup ## the transfer experiment (Swiss -> western Tyrol), report in out/experiments/transfer/
	$(CARGO) build --locked
	./target/debug/avarisk --root $(DEMO_ROOT) run onboard --sites swiss-alps,tyrol-west
	./target/debug/avarisk --root $(DEMO_ROOT) experiment --out $(DEMO_ROOT)/experiments/transfer --epochs 8

bench-train: setup ## P3: U-Net training throughput, avarisk (tch) against the same network in PyTorch
	$(CARGO) bench --locked --bench train
