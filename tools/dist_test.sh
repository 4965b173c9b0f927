#!/usr/bin/env bash
# Multi-process evaluation: torchrun + MMEngine's launcher; metrics are
# gathered over all processes.
#   bash tools/dist_test.sh CONFIG CHECKPOINT NPROC [tools/test.py args...]
# Several nodes, interpreter: as in tools/dist_run.sh.
set -euo pipefail
exec bash "$(dirname "$0")/dist_run.sh" test.py "$3" "$1" "$2" "${@:4}"
