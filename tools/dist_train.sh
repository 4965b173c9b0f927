#!/usr/bin/env bash
# Multi-process training: torchrun + MMEngine's launcher (--launcher pytorch).
#   bash tools/dist_train.sh CONFIG NPROC [tools/train.py arguments...]
# Several nodes, interpreter: NNODES / NODE_RANK / MASTER_ADDR / PORT /
# PYTHON, as in tools/dist_run.sh.
set -euo pipefail
exec bash "$(dirname "$0")/dist_run.sh" train.py "$2" "$1" "${@:3}"
