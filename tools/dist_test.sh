#!/usr/bin/env bash
# Multi-process evaluation: torchrun + MMEngine's launcher.
#   bash tools/dist_test.sh CONFIG CHECKPOINT NPROC [tools/test.py args...]
# Metrics are gathered over all processes (MMEngine's collect_results).
# NNODES / NODE_RANK / MASTER_ADDR / PORT / PYTHON as in dist_train.sh.
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" --master_port="$PORT" \
    --nproc_per_node="$NPROC" \
    "$(dirname "$0")/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch \
    "${@:4}"
