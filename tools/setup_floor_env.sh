#!/usr/bin/env bash
# Build the floor stack in ${VENV:-.venv-floor} by running the README's GPU recipe as written.
#
# The recipe is the shell block under the README's "<!-- gpu-recipe -->" marker. Its lines run in
# order in a venv of ${PYTHON} (Python 3.10), with that venv first on PATH, so `pip` and `python`
# are the venv's. Two lines change, because this host has no CUDA and no OpenMMLab index:
#   * torch comes from the package registry (the same release; its CUDA build runs on the CPU):
#     the line's `--index-url URL` is dropped;
#   * mmcv is the wheel tools/mmcv_wheel.sh compiles against that torch and caches, in place of
#     OpenMMLab's prebuilt one: `mmcv==V -f URL` becomes the wheel's path.
# Anything else in the block runs unchanged; a block whose torch or mmcv line does not have that
# shape stops the script. Then the test requirements, under the recipe's constraints.
# `bash tools/setup_floor_env.sh --print` only prints the lines it would run.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
VENV=${VENV:-.venv-floor}
README=${README:-README.md}
PYTHON=${PYTHON:-python3.10}
CONSTRAINTS=requirements/gpu.txt
log() { printf '[setup_floor_env] %s\n' "$*" >&2; }

recipe() {  # the shell block after the marker, one command per line
  awk '/<!-- gpu-recipe -->/ {m=1; next} m && /^```shell/ {b=1; next} b && /^```/ {exit} b' "$README"
}
substitute() {  # $1 = the mmcv wheel (or MMCV_WHEEL as a placeholder)
  sed -E -e '/^pip install torch==/ s# --index-url [^ ]+##' \
         -e "/^pip install .*mmcv==/ s#mmcv==[^ ]+ -f [^ ]+#$1#"
}
lines=$(recipe)
torch_line=$(grep -E '^pip install torch==[0-9.]+ --index-url ' <<<"$lines" || true)
mmcv_line=$(grep -E '^pip install .*mmcv==[0-9.]+ -f ' <<<"$lines" || true)
if [ "$(wc -l <<<"$torch_line")" != 1 ] || [ -z "$torch_line" ] || [ -z "$mmcv_line" ]; then
  echo "error: README.md's gpu-recipe block needs one 'pip install torch==V --index-url URL' line and one 'pip install ... mmcv==V -f URL' line; got:" >&2
  echo "$lines" >&2
  exit 1
fi
if [ "${1:-}" = --print ]; then
  substitute MMCV_WHEEL <<<"$lines"
  exit 0
fi

STAMP="$VENV/.mmseg_rga-floor-env"
STAMP_KEY="$("$PYTHON" -V) $(cat "$README" requirements/*.txt setup.py pyproject.toml | cksum)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_KEY" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || { log "creating $VENV with $("$PYTHON" -V)"; "$PYTHON" -m venv "$VENV"; }
VENV=$(cd "$VENV" && pwd)  # absolute: first on PATH from here on
export PATH="$VENV/bin:$PATH" PIP_DISABLE_PIP_VERSION_CHECK=1
hash -r

torch_cmd=$(substitute X <<<"$torch_line")
log "+ $torch_cmd"
eval "$torch_cmd"
wheel=$(bash tools/mmcv_wheel.sh "$VENV/bin/python" "$(sed -E 's/.*torch==([0-9.]+).*/\1/' <<<"$torch_line")" \
  "$(sed -E 's/.*mmcv==([0-9.]+).*/\1/' <<<"$mmcv_line")")
while IFS= read -r cmd; do
  [ -n "$cmd" ] && [ "$cmd" != "$torch_cmd" ] || continue
  log "+ $cmd"
  eval "$cmd"
done < <(substitute "$wheel" <<<"$lines")
log "+ pip install -r requirements/tests.txt -c $CONSTRAINTS"
pip install -q -r requirements/tests.txt -c "$CONSTRAINTS"
echo "$STAMP_KEY" > "$STAMP"
log "environment ready: $VENV"
