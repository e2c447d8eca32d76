#!/usr/bin/env bash
# Create (or complete) the project's virtual environment in ${VENV:-.venv}.
#
# The stack is pinned in ${PINS:-requirements/pinned.txt} (the main stack: torch 2.13.0, mmcv 2.1.0
# with compiled ops, mmengine 0.10.7, mmsegmentation 1.2.2; the floor stack is built from the
# README's GPU recipe by tools/setup_floor_env.sh). Needs a C++ compiler, the Python headers and
# venv. mmcv 2.1.0 exists on PyPI only as source: the first run compiles its ops
# (tools/mmcv_wheel.sh) into a wheel cached in ~/.cache/mmseg_rga/wheels/ (MMCV_WHEEL_CACHE
# overrides it), one folder per (Python tag, torch version); later runs install that wheel in
# seconds. Idempotent: a finished environment is detected by a stamp file.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
PINS=${PINS:-requirements/pinned.txt}
pinned() { sed -n "s/^$1==//p" "$PINS"; }
TORCH_VERSION=$(pinned torch)
MMCV_VERSION=$(pinned mmcv)
PYTAG=$("$PYTHON" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
STAMP="$VENV/.mmseg_rga-env"
STAMP_KEY="$PYTAG torch=${TORCH_VERSION} mmcv=${MMCV_VERSION} $(cat requirements/*.txt setup.py pyproject.toml | cksum)"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_KEY" ]; then
  exit 0
fi

log() { printf '[setup_env] %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

# torch first, pinned: an unpinned torch pulls a multi-GB CUDA build. TORCH_INDEX_URL picks the
# index (https://download.pytorch.org/whl/cpu: the CPU build, about 200 MB; the default index
# serves a CUDA build of about 3 GB on Linux), TORCH_WHEEL a torch wheel file of the pinned release.
log "installing torch==${TORCH_VERSION} ($PINS${TORCH_INDEX_URL:+, index $TORCH_INDEX_URL}${TORCH_WHEEL:+, $TORCH_WHEEL})"
if [ -n "${TORCH_WHEEL:-}" ]; then
  "${PIP[@]}" install -q "$TORCH_WHEEL"
else
  "${PIP[@]}" install -q "torch==${TORCH_VERSION}" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
fi
"${PIP[@]}" install -q "torch==${TORCH_VERSION}" numpy -c "$PINS"  # keeps that torch

have_mmcv_ops() {  # the pinned mmcv, with its compiled ops (a build without torch has none)
  MMCV_VERSION=$MMCV_VERSION "$VENV/bin/python" - <<'PY' 2>/dev/null
import os
import mmcv
from mmcv.ops import RoIAlign  # noqa: F401
assert mmcv.__version__ == os.environ['MMCV_VERSION'], mmcv.__version__
PY
}

if ! have_mmcv_ops; then
  wheel=$(bash tools/mmcv_wheel.sh "$VENV/bin/python" "$TORCH_VERSION" "$MMCV_VERSION")
  "${PIP[@]}" install -q "$wheel"
fi

log "installing mmseg_rga and its requirements"
"${PIP[@]}" install -q -e ".[tests]" -c "$PINS"

if ! have_mmcv_ops; then
  echo "[setup_env] ERROR: 'import mmcv.ops' fails after install of ${wheel:-mmcv}." \
       "Delete that wheel and rerun." >&2
  exit 1
fi
echo "$STAMP_KEY" > "$STAMP"
log "environment ready: $VENV"
