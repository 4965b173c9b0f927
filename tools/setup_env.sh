#!/usr/bin/env bash
# Create (once) the virtual environment that mmseg-pbip runs in, then print its path.
#
# Usage: source <(bash tools/setup_env.sh --print-activate)   or   VENV=$(bash tools/setup_env.sh)
#
# The environment lives outside the work tree, keyed by a hash of requirements/*.txt,
# so a fresh clone on the same machine (CI) reuses it and a change of pins builds a new one.
# Override the location with MMSEG_PBIP_VENV=/path.
#
# mmcv 2.1.0 has no wheel for this torch: it is built from the PyPI sdist with its CPU ops
# (about 15 minutes on 2 cores). The built wheel is kept in a wheelhouse keyed by the torch
# version, because pip's own cache keys it by mmcv's version only.
# torch 2.14's headers require C++20, so setup.py's '-std=c++17' is raised to '-std=c++20'.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache_root=${MMSEG_PBIP_CACHE:-$HOME/.cache/mmseg-pbip}
req_hash=$(cat "$here"/requirements/*.txt | sha256sum | cut -c1-12)
venv=${MMSEG_PBIP_VENV:-$cache_root/venv-$req_hash}
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null 2>&1 || python=python3

log() { echo "[setup_env] $*" >&2; }

if [ -f "$venv/.complete" ]; then
  # Keep the editable install pointing at this checkout (a fresh clone lives elsewhere).
  # (checked from / so that a checkout in the current folder does not mask it)
  if ! (cd / && "$venv/bin/python" -c "import mmseg_pbip, os, sys; sys.exit(os.path.dirname(os.path.dirname(mmseg_pbip.__file__)) != '$here')") 2>/dev/null; then
    log "pointing the editable install at $here"
    "$venv/bin/pip" install --quiet --no-deps --no-build-isolation -e "$here" >&2
  fi
  echo "$venv"
  exit 0
fi

start=$(date +%s)
log "creating $venv (first use: installs torch, builds mmcv with ops, installs the OpenMMLab stack)"
rm -rf "$venv"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip)
"${pip[@]}" install --quiet --upgrade "pip>=24" >&2
"${pip[@]}" install --quiet -r "$here/requirements/torch.txt" >&2

torch_version=$("$venv/bin/python" -c "import torch; print(torch.__version__.split('+')[0])")
wheelhouse="$cache_root/wheelhouse/torch-$torch_version"
mkdir -p "$wheelhouse"
if ! ls "$wheelhouse"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
  log "building mmcv 2.1.0 with CPU ops against torch $torch_version (about 15 minutes on 2 cores)"
  tmp_wh=$(mktemp -d "$cache_root/wheelhouse/build.XXXXXX")
  "${pip[@]}" download --quiet --no-deps --no-binary :all: --no-build-isolation \
    -r "$here/requirements/mmcv.txt" -d "$tmp_wh/src" >&2
  tar -xzf "$tmp_wh"/src/mmcv-*.tar.gz -C "$tmp_wh/src"
  # torch >= 2.10 headers need C++20; mmcv 2.1.0's setup.py asks for C++17.
  sed -i "s/'-std=c++17'/'-std=c++20'/g" "$tmp_wh"/src/mmcv-*/setup.py
  MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-2} \
    "${pip[@]}" wheel --no-deps --no-build-isolation --no-cache-dir \
    "$tmp_wh"/src/mmcv-*/ -w "$tmp_wh" >&2
  mv "$tmp_wh"/mmcv-*.whl "$wheelhouse/"
  rm -rf "$tmp_wh"
fi
# every optional extra too (wsi, pscl, crf, conch), so the tests cover every part
"${pip[@]}" install --quiet --find-links "$wheelhouse" -r "$here/requirements/mmcv.txt" \
  -r "$here/requirements/runtime.txt" -r "$here/requirements/tests.txt" \
  -r "$here/requirements/wsi.txt" -r "$here/requirements/pscl.txt" \
  -r "$here/requirements/crf.txt" -r "$here/requirements/conch.txt" >&2
"${pip[@]}" install --quiet --no-deps --no-build-isolation -e "$here" >&2
"$venv/bin/python" -c "import mmcv.ops, mmseg, mmpretrain, mmdet, transformers, timm, sklearn, openslide, tiffslide, tifffile, shapely, pydensecrf.densecrf, conch.open_clip_custom, mmseg_pbip" >&2
touch "$venv/.complete"
log "environment ready in $(( $(date +%s) - start )) s: $venv"
echo "$venv"
