#!/usr/bin/env bash
# Run one of tools/*.py on several processes: torchrun + --launcher pytorch.
#   bash tools/dist_run.sh TOOL NPROC [TOOL arguments...]
#   e.g. bash tools/dist_run.sh build_image_bank.py 8 CONFIG
#        bash tools/dist_run.sh generate_pseudo_labels.py 8 CONFIG CKPT
# One process per GPU (nccl); without CUDA the processes use gloo on CPUs.
# Several nodes: run it on every node with the same MASTER_ADDR / PORT,
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=node0 bash tools/dist_run.sh ...
#   NNODES=2 NODE_RANK=1 MASTER_ADDR=node0 bash tools/dist_run.sh ...
# PYTHON selects the interpreter (default: python on PATH).
set -euo pipefail
TOOL=$1
NPROC=$2
exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" --nproc_per_node="$NPROC" \
    "$(dirname "$0")/$TOOL" "${@:3}" --launcher pytorch
