#!/usr/bin/env bash
# Print the path of an mmcv wheel with compiled CPU ops for the torch of a Python, building it once.
#
#   bash tools/mmcv_wheel.sh /path/to/venv/bin/python [MMCV_VERSION]
#
# The Python must already hold the torch to compile against. The wheel is cached in
# ${MMCV_WHEEL_CACHE:-~/.cache/mmseg_rga/wheels/<python tag>-torch-<torch version>/}: mmcv 2.1.0
# exists on PyPI only as source, so the first call compiles its ops (minutes on 2 cores; MAX_JOBS
# sets the compiler jobs, default nproc). FORCE_CUDA=0 and a host without a visible GPU give CPU
# ops only; the plugin needs no mmcv kernel. Build tools (wheel, ninja, packaging, setuptools<82)
# are installed into that Python first. Progress goes to stderr, the wheel's path to stdout.
set -euo pipefail
PY=${1:?usage: tools/mmcv_wheel.sh PYTHON [MMCV_VERSION]}
MMCV_VERSION=${2:-2.1.0}
log() { printf '[mmcv_wheel] %s\n' "$*" >&2; }

read -r PYTAG TORCH_VERSION < <("$PY" -c 'import sys, torch
print("cp%d%d" % sys.version_info[:2], torch.__version__.split("+")[0])')
CACHE=${MMCV_WHEEL_CACHE:-$HOME/.cache/mmseg_rga/wheels/${PYTAG}-torch-${TORCH_VERSION}}
wheel=$(ls "$CACHE"/mmcv-"${MMCV_VERSION}"-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$wheel" ]; then
  log "building mmcv==${MMCV_VERSION} with compiled ops for ${PYTAG}, torch ${TORCH_VERSION} (once; minutes)"
  "$PY" -m pip install -q --disable-pip-version-check wheel ninja packaging "setuptools<82" >&2
  mkdir -p "$CACHE"
  tmp=$(mktemp -d)
  MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-$(nproc)} "$PY" -m pip wheel \
    --disable-pip-version-check --no-build-isolation --no-deps -w "$tmp" "mmcv==${MMCV_VERSION}" >&2
  mv "$tmp"/mmcv-*.whl "$CACHE"/
  rm -rf "$tmp"
  wheel=$(ls "$CACHE"/mmcv-"${MMCV_VERSION}"-*.whl | head -n 1)
else
  log "cached: $wheel"
fi
echo "$wheel"
