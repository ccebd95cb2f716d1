# avarisk: `make help` lists the targets.
VENV ?= $(HOME)/.cache/avarisk/torch-2.11.0
export AVARISK_TORCH_VENV := $(VENV)
# tch builds against the libtorch inside the venv's torch package; the venv's python must come first.
export PATH := $(VENV)/bin:$(PATH)
export LIBTORCH_USE_PYTORCH := 1
CARGO ?= cargo
DEMO_ROOT ?= out

.PHONY: help setup build test test-slurm check lint fmt demo verify bench bench-terrain bench-weather bench-train bench-serve bench-predict serve experiment-transfer

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

setup: ## install missing Debian packages and the torch venv (idempotent; seconds when done)
	@scripts/setup.sh

build: setup ## debug build of the avarisk and avarisk-train binaries (the workspace)
	$(CARGO) build --locked --workspace

test: setup ## run every test (unit, integration, gdaldem agreement), crates/avarisk-nn's included, then test-slurm
	$(CARGO) test --locked --workspace
	scripts/dist-test.sh
	$(MAKE) --no-print-directory test-slurm

test-slurm: setup ## docs/slurm/daily.sh on a throwaway one-node Slurm cluster: array, shard ledgers, scancel + resubmit (scripts/slurm-test.sh)
	$(CARGO) build --locked
	scripts/slurm-test.sh

lint: setup ## cargo fmt --check and clippy -D warnings
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

check: lint test ## what CI runs: lint, then the tests

fmt: ## format the code
	$(CARGO) fmt --all

DEMO_DATE ?= 2021-02-15
SERVE_ADDR ?= 127.0.0.1:8080

serve: ## serve the published maps of DEMO_ROOT (API, tiles, web map) at http://$(SERVE_ADDR)/
	$(CARGO) build --locked
	./target/debug/avarisk --root $(DEMO_ROOT) serve --addr $(SERVE_ADDR)

demo: setup ## onboard every bundled site, then the daily pipeline for DEMO_DATE (2021-02-15) offline; outputs in out/
	$(CARGO) build --locked
	./target/debug/avarisk validate
	./target/debug/avarisk --root $(DEMO_ROOT) run onboard
	./target/debug/avarisk --root $(DEMO_ROOT) run daily --date $(DEMO_DATE) --offline
	@echo "maps published under $(DEMO_ROOT)/published; to browse them: make serve, then open http://$(SERVE_ADDR)/"

bench: bench-terrain bench-weather bench-train bench-serve bench-predict ## all benchmarks (release build)

bench-terrain: setup ## P1: terrain features vs gdaldem on an ~80 Mpx DEM built from the SRTM tiles
	$(CARGO) bench --locked --bench terrain

bench-weather: setup ## P4: 100 sites fetching weather concurrently from a loopback server with 200 ms latency
	$(CARGO) bench --locked --bench weather

verify: setup ## the daily product over the held-back winters of both sites (after make demo), reports in out/verify/
	$(CARGO) build --locked
	./target/debug/avarisk --root $(DEMO_ROOT) verify --site tyrol-west --offline --report $(DEMO_ROOT)/verify/tyrol-west
	./target/debug/avarisk --root $(DEMO_ROOT) verify --site swiss-alps --offline --report $(DEMO_ROOT)/verify/swiss-alps

experiment-transfer: setup ## the transfer experiment (Swiss -> western Tyrol) scored on the map, report in out/experiments/transfer/
	$(CARGO) build --locked
	./target/debug/avarisk --root $(DEMO_ROOT) run onboard --sites swiss-alps,tyrol-west
	./target/debug/avarisk --root $(DEMO_ROOT) experiment --out $(DEMO_ROOT)/experiments/transfer --epochs 8

bench-train: setup ## P3: U-Net training throughput, avarisk (tch) against the same network in PyTorch
	$(CARGO) bench --locked --bench train

bench-serve: setup ## load run of `avarisk serve` on loopback: tiles, API, 304 polling; req/s, p50/p99, errors, RSS
	$(CARGO) bench --locked --bench serve

bench-predict: setup ## P2: tiled inference on 1k-4k px grids (8k: AVARISK_BENCH_LARGE=1), avarisk vs PyTorch; px/s, RSS
	$(CARGO) bench --locked --bench predict

# The self-contained tree and tarball (dist/), their test, and the container image docs/k8s/*.yaml run.
PROFILE ?= debug
TORCH_VARIANT ?= cpu
IMAGE ?= registry.example.org/avarisk:latest
.PHONY: dist test-dist image test-image

dist: setup ## dist/avarisk/ (bin/, lib/ with libtorch, share/avarisk/) and its tarball, from target/debug (PROFILE=release: target/release)
	$(CARGO) build --locked $(if $(filter release,$(PROFILE)),--release)
	PROFILE=$(PROFILE) DIST_VARIANT=$(TORCH_VARIANT) scripts/dist.sh

test-dist: setup ## the dist tarball unpacked in a clean directory, no venv: ldd, avarisk info, the demo's daily stage
	$(CARGO) build --locked $(if $(filter release,$(PROFILE)),--release)
	PROFILE=$(PROFILE) scripts/dist-test.sh

image: ## the container image $(IMAGE) from Containerfile with podman or buildah (TORCH_VARIANT=cuda: for GPU nodes)
	@if command -v podman >/dev/null; then set -x; podman build --build-arg TORCH_VARIANT=$(TORCH_VARIANT) -f Containerfile -t $(IMAGE) .; \
	elif command -v buildah >/dev/null; then set -x; buildah bud --build-arg TORCH_VARIANT=$(TORCH_VARIANT) -f Containerfile -t $(IMAGE) .; \
	elif docker info >/dev/null 2>&1; then set -x; docker build --build-arg TORCH_VARIANT=$(TORCH_VARIANT) -f Containerfile -t $(IMAGE) .; \
	else echo "image: cannot build $(IMAGE): neither podman nor buildah is installed (apt-get install podman) and no docker daemon answers" >&2; exit 1; fi

test-image: ## the Containerfile's runtime stage from dist/avarisk/ (make dist; DIST_TREE=...) on a local bookworm base, no registry: ldd, info, the daily stage
	DEMO_ROOT=$(DEMO_ROOT) scripts/image-test.sh
