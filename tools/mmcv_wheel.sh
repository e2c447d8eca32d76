#!/usr/bin/env bash
# Print the path of mmcv's wheel with compiled CPU ops for one Python and one torch version,
# building it into the cache first when it is not there.
#
#   bash tools/mmcv_wheel.sh PYTHON TORCH_VERSION MMCV_VERSION
#
# The cache is ${MMCV_WHEEL_CACHE:-~/.cache/mmseg_rga/wheels/<python tag>-torch-<version>/}, one
# folder per (Python tag, torch version); tools/setup_env.sh and tools/build_wheelhouse.sh both
# take their wheel from here. A build (minutes on 2 cores; docs/get_started.md lists the recorded times) runs `pip wheel mmcv==VERSION`
# with MMCV_WITH_OPS=1 FORCE_CUDA=0 and no GPU visible: mmcv's setup.py compiles CUDA kernels
# whenever torch sees a GPU, and the plugin needs none of them. It runs in PYTHON when PYTHON
# has that torch (build tools are added to it), otherwise in a temporary venv of PYTHON with torch from the registry (numpy<2
# for torch <= 2.1, which is built against numpy 1.x). Only the path goes to stdout.
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: bash tools/mmcv_wheel.sh PYTHON TORCH_VERSION MMCV_VERSION" >&2
  exit 2
fi
PYTHON=$1 TORCH_VERSION=$2 MMCV_VERSION=$3
PYTAG=$("$PYTHON" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
CACHE=${MMCV_WHEEL_CACHE:-$HOME/.cache/mmseg_rga/wheels/${PYTAG}-torch-${TORCH_VERSION}}
log() { printf '[mmcv_wheel] %s\n' "$*" >&2; }

cached() { ls "$CACHE"/mmcv-"${MMCV_VERSION}"-*.whl 2>/dev/null | head -n 1 || true; }
wheel=$(cached)
if [ -n "$wheel" ]; then
  log "using cached mmcv wheel $wheel"
  echo "$wheel"
  exit 0
fi

has_torch() {  # PYTHON's torch is TORCH_VERSION (a local tag such as +cpu aside)
  TORCH_VERSION=$TORCH_VERSION "$1" -c 'import os, torch
assert torch.__version__.split("+")[0] == os.environ["TORCH_VERSION"]' 2>/dev/null
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
builder=$PYTHON
if ! has_torch "$PYTHON"; then
  numpy=numpy
  if [ "$(printf '%s\n' "$TORCH_VERSION" 2.2 | sort -V | head -n 1)" != 2.2 ]; then
    numpy="numpy<2"
  fi
  log "creating a build venv with torch==$TORCH_VERSION ($numpy) in $tmp/venv"
  "$PYTHON" -m venv "$tmp/venv"
  builder=$tmp/venv/bin/python
  "$builder" -m pip install -q --disable-pip-version-check "torch==$TORCH_VERSION" "$numpy" >&2
fi
"$builder" -m pip install -q --disable-pip-version-check wheel ninja packaging "setuptools<82" >&2

log "building mmcv==$MMCV_VERSION with compiled CPU ops for $PYTAG, torch $TORCH_VERSION" \
    "(first run only; minutes on 2 cores)"
mkdir -p "$CACHE" "$tmp/dist"
CUDA_VISIBLE_DEVICES='' MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
  "$builder" -m pip --disable-pip-version-check wheel --no-build-isolation --no-deps \
  -w "$tmp/dist" "mmcv==$MMCV_VERSION" >&2
mv "$tmp"/dist/mmcv-*.whl "$CACHE"/
wheel=$(cached)
log "cached $wheel"
echo "$wheel"
