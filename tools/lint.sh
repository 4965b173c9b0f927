#!/usr/bin/env bash
# Lint and format checks of OpenMMLab projects, with the settings of
# setup.cfg: flake8, isort, yapf, codespell, docformatter (the hooks of
# .pre-commit-config.yaml, run without pre-commit, which needs GitHub).
#   bash tools/lint.sh          check; exit 1 and the diffs when unclean
#   bash tools/lint.sh --fix    rewrite the files (isort, yapf, docformatter)
# The tools live in their own small venv (pinned below), not the test venv.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pins="flake8==7.1.1 isort==5.13.2 yapf==0.43.0 codespell==2.3.0 docformatter==1.7.5"
cache_root=${MMSEG_PBIP_CACHE:-$HOME/.cache/mmseg-pbip}
venv="$cache_root/lint-$(echo "$pins" | sha256sum | cut -c1-12)"
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null 2>&1 || python=python3
if [ ! -x "$venv/bin/python" ]; then
  rm -rf "$venv.tmp"
  "$python" -m venv "$venv.tmp"
  # shellcheck disable=SC2086
  "$venv.tmp/bin/python" -m pip install -q $pins >&2
  mv "$venv.tmp" "$venv"
fi
cd "$here"
# (python -m: the venv was built under another name and moved into place)
py="$venv/bin/python"
paths=(mmseg_pbip tools tests configs setup.py)
docformat=(--wrap-summaries 79 --wrap-descriptions 79)
if [ "${1:-}" = "--fix" ]; then
  "$py" -m isort "${paths[@]}"
  "$py" -m yapf -r -i "${paths[@]}"
  "$py" -m docformatter -r -i "${docformat[@]}" "${paths[@]}" || true
fi
status=0
"$py" -m flake8 "${paths[@]}" || status=1
"$py" -m isort --check-only --diff "${paths[@]}" || status=1
"$py" -m yapf -r --diff "${paths[@]}" || status=1
"$py" -m codespell_lib "${paths[@]}" README.md docs || status=1
"$py" -m docformatter -r --check "${docformat[@]}" "${paths[@]}" \
  || status=1
if [ "$status" != 0 ]; then
  echo "lint: unclean (bash tools/lint.sh --fix rewrites the formatting;" \
       "flake8 and codespell findings are fixed by hand)" >&2
else
  echo "lint: flake8, isort, yapf, codespell, docformatter clean" >&2
fi
exit "$status"
