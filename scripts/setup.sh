#!/usr/bin/env bash
# Installs what avarisk needs to build, test and run, and nothing that is already there (a second run takes seconds):
#   - Debian packages: GDAL 3.6 headers and tools, pkg-config, a C++ compiler, sqlite3, chromium (browser test),
#     patchelf (scripts/dist.sh: the dist tree's RUNPATHs)
#   - libtorch 2.11.0, taken from PyPI's torch==2.11.0 in a venv shared by clones ($AVARISK_TORCH_VENV), and moto's
#     S3 server for the object-storage test
set -euo pipefail

venv="${AVARISK_TORCH_VENV:-$HOME/.cache/avarisk/torch-2.11.0}"
# chromium: the headless-browser test of the web map (`avarisk serve`).
packages=(libgdal-dev gdal-bin pkg-config g++ sqlite3 python3-venv chromium patchelf)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# moto[server]: a local S3-compatible server for the object-storage test.
if ! "$venv/bin/python" -c 'import torch, numpy, safetensors, sklearn, moto.server, sys; sys.exit(torch.__version__.split("+")[0] != "2.11.0")' 2>/dev/null; then
  echo "setup: installing torch==2.11.0 (about 2.7 GB, a few minutes the first time), numpy, safetensors, scikit-learn, moto[server] into $venv"
  mkdir -p "$(dirname "$venv")"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check torch==2.11.0 numpy safetensors scikit-learn 'moto[server]'
fi
echo "setup: ok (torch venv: $venv)"
