#!/usr/bin/env bash
# Run the test suite and the lint/format checks (tools/lint.sh); on first use
# this creates the environments (tools/setup_env.sh: about 20 minutes once,
# mostly building mmcv's ops; the lint tools: seconds).
# Extra arguments go to pytest, e.g. `bash tools/run_tests.sh -k metric`;
# MMSEG_PBIP_LINT=0 skips the lint checks.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$(bash "$here/tools/setup_env.sh")
cd "$here"
lint=0
if [ "${MMSEG_PBIP_LINT:-1}" != 0 ]; then
  bash "$here/tools/lint.sh" || lint=$?
fi
tests=0
"$venv/bin/python" -m pytest tests "$@" || tests=$?
if [ "$lint" != 0 ]; then
  echo "run_tests: the lint checks failed (see above)" >&2
fi
exit $(( tests != 0 ? tests : lint ))
