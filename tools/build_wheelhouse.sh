#!/usr/bin/env bash
# Build the wheels that a host without internet needs to run mmseg_rga (`make wheelhouse`).
#
#   PYTHON=/path/to/python3.12 TORCH=2.11.0 [LEAVE_OUT="matplotlib"] bash tools/build_wheelhouse.sh
#
# PYTHON: a Python of the host's version (default python3); TORCH: the host's torch version
# (default: the one pinned in ${PINS:-requirements/pinned.txt}); WHEELHOUSE: the output folder
# (default wheelhouse/<python tag>-torch-<version>/, emptied first). It holds mmcv with compiled
# CPU ops for that Python and torch (tools/mmcv_wheel.sh: cached, built on the first run; copied
# here without its debug symbols), the mmseg_rga wheel of this checkout, and every other
# distribution that `pip install mmseg_rga` pulls in, at the versions PINS allows, except what
# the host brings: torch and its dependencies, numpy and opencv (any of its four wheels).
# LEAVE_OUT names more distributions to leave out, with the dependencies only they need (a size
# cap: matplotlib is imported only by the tools' charts). It prints every wheel and the total.
#
# On the host (docs/get_started.md, "An offline CUDA host"):
#   pip install --no-index --find-links WHEELHOUSE mmseg_rga   # the host has opencv-python
#   pip install --no-index --no-deps WHEELHOUSE/*.whl          # it keeps its own opencv build
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
PINS=${PINS:-requirements/pinned.txt}
pinned() { sed -n "s/^$1==//p" "$PINS"; }
TORCH=${TORCH:-$(pinned torch)}
MMCV_VERSION=$(pinned mmcv)
PYTAG=$("$PYTHON" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
OUT=${WHEELHOUSE:-wheelhouse/${PYTAG}-torch-${TORCH}}
HOST_HAS="torch numpy opencv-python opencv-python-headless opencv-contrib-python
  opencv-contrib-python-headless"
PIP=("$PYTHON" -m pip --disable-pip-version-check)
log() { printf '[wheelhouse] %s\n' "$*" >&2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf "$OUT"
mkdir -p "$OUT"
echo "$PYTAG torch $TORCH" > "$OUT/wheelhouse.txt"  # what tools/analysis_tools/gpu_run.sh checks

log "mmcv $MMCV_VERSION for $PYTAG, torch $TORCH"
mmcv=$(bash tools/mmcv_wheel.sh "$PYTHON" "$TORCH" "$MMCV_VERSION")
# the same wheel without the debug symbols of its compiled ops (a quarter of the size)
"$PYTHON" - "$mmcv" "$OUT" <<'PY'
import base64, hashlib, os, shutil, subprocess, sys, tempfile, zipfile
src, out = sys.argv[1], sys.argv[2]
dst = os.path.join(out, os.path.basename(src))
if not shutil.which('strip'):
    shutil.copy(src, dst)
    sys.exit(print('[wheelhouse] no `strip` on PATH: mmcv copied with its debug symbols',
                   file=sys.stderr))
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w', zipfile.ZIP_DEFLATED) as zout:
    files, record = {}, None
    for info in zin.infolist():
        data = zin.read(info)
        if info.filename.endswith('.so'):
            with tempfile.NamedTemporaryFile(suffix='.so') as so:
                so.write(data)
                so.flush()
                subprocess.run(['strip', '--strip-debug', so.name], check=True)
                data = open(so.name, 'rb').read()
        if info.filename.endswith('.dist-info/RECORD'):
            record = info.filename
        else:
            files[info.filename] = data
            zout.writestr(info, data)
    digest = lambda d: base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()
    lines = [f'{name},sha256={digest(data)},{len(data)}' for name, data in files.items()]
    zout.writestr(record, '\n'.join(lines + [f'{record},,']) + '\n')
PY

log "mmseg_rga from this checkout"
"${PIP[@]}" wheel -q --no-deps -w "$OUT" . >&2

# what mmseg_rga requires, less what the host brings
"$PYTHON" tools/wheelhouse_select.py requirements "$(ls "$OUT"/mmseg_rga-*.whl)" "$HOST_HAS" \
  > "$tmp/requirements.txt"
numpy_pin=()
if [ "$(printf '%s\n' "$TORCH" 2.2 | sort -V | head -n 1)" != 2.2 ]; then
  # torch <= 2.1 is built against numpy 1.x: the GPU recipe's constraints (numpy<2, an opencv
  # that keeps it), not the main stack's pins (opencv-python 5.1 needs numpy 2)
  [ "$PINS" = requirements/pinned.txt ] && PINS=requirements/gpu.txt
  numpy_pin=(-c requirements/gpu.txt)
fi
log "resolving $(tr '\n' ' ' < "$tmp/requirements.txt")(constraints: $PINS)"
"${PIP[@]}" install -q --dry-run --ignore-installed --report "$tmp/report.json" \
  --find-links "$OUT" -r "$tmp/requirements.txt" -c "$PINS" "${numpy_pin[@]}" >&2

# the resolved closure, walked from the requirements, without the host's and LEAVE_OUT's
"$PYTHON" tools/wheelhouse_select.py closure "$tmp/report.json" "$tmp/requirements.txt" \
  "$HOST_HAS ${LEAVE_OUT:-}" > "$tmp/fetch.txt"
log "fetching $(wc -l < "$tmp/fetch.txt") wheels"
xargs "${PIP[@]}" wheel -q --no-deps -w "$OUT" < "$tmp/fetch.txt" >&2

"$PYTHON" - "$OUT" <<'PY'
import os, sys
out = sys.argv[1]
sizes = sorted(((os.path.getsize(os.path.join(out, n)), n) for n in os.listdir(out)
                if n.endswith('.whl')), reverse=True)
for size, name in sizes:
    print(f'{size / 2**20:8.2f} MiB  {name}')
print(f'{out}: {len(sizes)} wheels, {sum(s for s, _ in sizes) / 2**20:.1f} MiB')
PY
