#!/usr/bin/env bash
# Distributed testing with torchrun (GPU hosts, or gloo on CPU-only hosts).
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
# Env: NNODES (1), NODE_RANK (0), PORT (29500), MASTER_ADDR (127.0.0.1), PYTHON (.venv/bin/python if present, else python).
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 CONFIG CHECKPOINT GPUS [tools/test.py args...]" >&2
  exit 2
fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
TOOLS_DIR=$(cd "$(dirname "$0")" && pwd)
# PYTHON unset: the repo's .venv (make env) when it exists, else python on PATH
if [ -z "${PYTHON:-}" ] && [ -x "$TOOLS_DIR/../.venv/bin/python" ]; then
  PYTHON="$TOOLS_DIR/../.venv/bin/python"
fi
PYTHON=${PYTHON:-python}
# stop in one line on a GPU host whose chosen Python has a CPU-only torch (never CPU DDP there)
"$PYTHON" "$TOOLS_DIR/../mmseg_rga/tooling/gpu_host.py"

PYTHONPATH="$TOOLS_DIR/..${PYTHONPATH:+:$PYTHONPATH}" \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$TOOLS_DIR/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
