#!/usr/bin/env bash
# Distributed training on one or more nodes with torchrun (works on GPU hosts and, with gloo,
# on CPU-only hosts: see mmseg_rga/tooling/dist.py).
#   bash tools/dist_train.sh CONFIG GPUS [train.py args...]
# Env: NNODES (1), NODE_RANK (0), PORT (29500), MASTER_ADDR (127.0.0.1), PYTHON (.venv/bin/python if present, else python).
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 CONFIG GPUS [tools/train.py args...]" >&2
  exit 2
fi
CONFIG=$1
GPUS=$2
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

# `python -m torch.distributed.run` is `torchrun`, found without the venv's bin/ on PATH.
PYTHONPATH="$TOOLS_DIR/..${PYTHONPATH:+:$PYTHONPATH}" \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$TOOLS_DIR/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
