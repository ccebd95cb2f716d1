#!/usr/bin/env bash
# Trains avarisk's release network from an exported dataset file with the libtorch-only build (`avarisk-train`, crate
# crates/avarisk-nn: no GDAL, polars or HTTP stack), on CUDA when libtorch sees a GPU, else on the CPU, and prints the
# training and inference throughput.
#
#   scripts/gpu-check.sh DATASET.safetensors [EPOCHS]      # default 5 epochs
#
# Make the dataset where avarisk runs:  avarisk dataset export --pipeline pretrain --out DATASET.safetensors
# Needs: cargo and a Python venv with PyTorch 2.11 (AVARISK_TORCH_VENV, default ~/.cache/avarisk/torch-2.11.0, else
# the python3 on PATH). AVARISK_TRAIN_BIN=path skips the build and uses that binary. Set CARGO_NET_OFFLINE=true on a
# machine without network (the crates must then be in cargo's cache or vendored).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?usage: scripts/gpu-check.sh DATASET.safetensors [EPOCHS]}
EPOCHS=${2:-5}
[ -f "$DATA" ] || { echo "error: $DATA not found (write it with: avarisk dataset export --out $DATA)" >&2; exit 2; }
VENV=${AVARISK_TORCH_VENV:-$HOME/.cache/avarisk/torch-2.11.0}
if [ -x "$VENV/bin/python3" ]; then export PATH="$VENV/bin:$PATH"; fi
export LIBTORCH_USE_PYTORCH=1
python3 -c 'import torch; print("torch", torch.__version__, "CUDA available:", torch.cuda.is_available(),
  torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; fi

BIN=${AVARISK_TRAIN_BIN:-}
if [ -z "$BIN" ]; then
  # Only avarisk-nn's dependency graph is built: tch/torch-sys and pure-Rust crates.
  cargo build --release --locked -p avarisk-nn --bin avarisk-train
  BIN=target/release/avarisk-train
fi
if readelf -d "$BIN" | grep -Eq 'lib(gdal|proj|polars)'; then
  echo "error: $BIN links a library the libtorch-only build must not need:" >&2
  readelf -d "$BIN" | grep NEEDED >&2
  exit 1
fi
echo "$BIN needs: $(readelf -d "$BIN" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' | tr '\n' ' ')"

DEVICE=cpu
if python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then DEVICE=cuda; fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
"$BIN" --data "$DATA" --epochs "$EPOCHS" --device "$DEVICE" --out "$OUT/bundle"
