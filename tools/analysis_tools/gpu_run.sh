#!/usr/bin/env bash
# On a CUDA host without internet: install a wheelhouse (`make wheelhouse`) beside the host's own
# torch, numpy and opencv, then run gpu_check.py with the options given.
#
#   bash tools/analysis_tools/gpu_run.sh WHEELHOUSE [gpu_check.py options]
#
# PYTHON (default python3) is the host's Python with its CUDA torch; the wheelhouse must have been
# built for its Python version and torch version (its wheelhouse.txt says which). The wheels are
# installed with `pip install --no-index --no-deps --no-compile --target SITE` (default
# work_dirs/offline_site/<wheelhouse folder name>), and SITE goes first on PYTHONPATH: the host's
# own packages are left as they are, and an unchanged wheelhouse is not installed twice.
set -euo pipefail

cd "$(dirname "$0")/../.."
if [ $# -lt 1 ] || [ ! -f "$1/wheelhouse.txt" ]; then
  echo "error: expected a wheelhouse folder built by \`make wheelhouse\` (with its" \
       "wheelhouse.txt) as the first argument; got '${1:-}'" >&2
  exit 2
fi
WHEELHOUSE=$1
shift
PYTHON=${PYTHON:-python3}
SITE=${SITE:-work_dirs/offline_site/$(basename "$WHEELHOUSE")}
case $SITE in /*) ;; *) SITE=$PWD/$SITE ;; esac

want=$(cat "$WHEELHOUSE/wheelhouse.txt")
have=$("$PYTHON" -c 'import sys, torch
print("cp%d%d torch %s" % (*sys.version_info[:2], torch.__version__.split("+")[0]))') || {
  echo "error: $PYTHON cannot import torch; set PYTHON to the host's Python with its CUDA torch" >&2
  exit 1
}
if [ "$have" != "$want" ]; then
  echo "error: $WHEELHOUSE was built for $want, but $PYTHON is $have; build one for this host:" \
       "make wheelhouse PYTHON=<a Python of its version> TORCH=<its torch version>" >&2
  exit 1
fi

key=$(cd "$WHEELHOUSE" && ls -l -- *.whl | cksum)
if [ "$(cat "$SITE/.wheelhouse" 2>/dev/null)" != "$key" ]; then
  echo "[gpu_run] installing $WHEELHOUSE into $SITE" >&2
  rm -rf "$SITE"
  mkdir -p "$SITE"
  "$PYTHON" -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile \
    --target "$SITE" "$WHEELHOUSE"/*.whl
  echo "$key" > "$SITE/.wheelhouse"
fi
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" tools/analysis_tools/gpu_check.py "$@"
