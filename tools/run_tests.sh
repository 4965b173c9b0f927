#!/usr/bin/env bash
# Run the test suite; on first use this creates the environment
# (tools/setup_env.sh: about 20 minutes once, mostly building mmcv's ops).
# Extra arguments go to pytest, e.g. `bash tools/run_tests.sh -k metric`.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$(bash "$here/tools/setup_env.sh")
cd "$here"
exec "$venv/bin/python" -m pytest tests "$@"
