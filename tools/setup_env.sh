#!/usr/bin/env bash
# Create (or complete) the project's virtual environment in ${VENV:-.venv}.
#
# The stack is pinned in ${PINS:-requirements/pinned.txt} (the main stack: torch 2.13.0 CPU wheel,
# mmcv 2.1.0 with compiled ops, mmengine 0.10.7, mmsegmentation 1.2.2); `make env-floor` passes
# PINS=requirements/floor.txt and a Python 3.9 from pyenv for the floor stack. mmcv 2.1.0 exists on
# PyPI only as source: the first run compiles its ops (6-27 minutes on 2 cores) into a wheel
# cached in ~/.cache/mmseg_rga/wheels/, one folder per (Python tag, torch version), by
# tools/mmcv_wheel.sh (MMCV_WHEEL_CACHE overrides the folder); later runs install that wheel in
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
STAMP_KEY="$PYTAG editable=${EDITABLE:-1} torch=${TORCH_VERSION} mmcv=${MMCV_VERSION} $(cat requirements/*.txt setup.py pyproject.toml | cksum)"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_KEY" ]; then
  exit 0
fi

log() { printf '[setup_env] %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

log "installing build tools and torch==${TORCH_VERSION} ($PINS)"
# torch first, pinned: an unpinned torch pulls a multi-GB CUDA build. numpy and opencv-python are
# constrained by the pin file too (the floor's torch needs numpy<2; the newest opencv-python would
# upgrade it).
"${PIP[@]}" install -q "torch==${TORCH_VERSION}" wheel ninja numpy packaging \
  -c "$PINS" "setuptools"

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
if [ "${EDITABLE:-1}" = 1 ]; then
  "${PIP[@]}" install -q -e ".[tests]" -c "$PINS"
else  # a plain install, as a user's `pip install .` (the floor stack's tests import it)
  "${PIP[@]}" install -q --no-build-isolation ".[tests]" -c "$PINS"
fi

if ! have_mmcv_ops; then
  echo "[setup_env] ERROR: 'import mmcv.ops' fails after install of ${wheel:-mmcv}." \
       "Delete that wheel and rerun." >&2
  exit 1
fi
echo "$STAMP_KEY" > "$STAMP"
log "environment ready: $VENV"
