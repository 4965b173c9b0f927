#!/usr/bin/env bash
# Multi-process training: torchrun + MMEngine's launcher (--launcher pytorch).
#   bash tools/dist_train.sh CONFIG NPROC [tools/train.py arguments...]
# One process per GPU (nccl); without CUDA the processes use gloo on CPUs.
# Several nodes: run it on every node with the same MASTER_ADDR / PORT,
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=node0 bash tools/dist_train.sh CFG 8
#   NNODES=2 NODE_RANK=1 MASTER_ADDR=node0 bash tools/dist_train.sh CFG 8
# PYTHON selects the interpreter (default: python on PATH).
set -euo pipefail
CONFIG=$1
NPROC=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" --master_port="$PORT" \
    --nproc_per_node="$NPROC" \
    "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "${@:3}"
