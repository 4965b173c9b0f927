#!/usr/bin/env bash
# Time the released PBIP stage-one script on this machine, as its users run
# it (CPU, fp32: its fp16 autocast is CUDA-only), with random weights and no
# hub access, to compare with tools/analysis_tools/benchmark_train.py.
#
#   RELEASED_PBIP=/path/to/PBIP-checkout \
#     bash tools/analysis_tools/released_pbip_benchmark/run.sh ITERS
#
# ITERS timed iterations after 1 warm-up (batch $BATCH, default 10). Run it
# once as is (glibc defaults) and once with the allocator setting of
# docs/performance.md in GLIBC_TUNABLES. Prints s/iter, images/s, FG/BG
# pairs per iteration, peak RSS and page faults; JSON in $BENCH_HOME/results.
# The released script's dependencies that this project's environment lacks
# (medclip 0.0.3 and what it imports) go to $BENCH_HOME/site, never into the
# environment; random Swin-T, Bio_ClinicalBERT and MiT-b1 weights are written
# by make_assets.py (the MiT file into the checkout's pretrained/, where the
# released code reads it). Nothing of the released code is modified: see the
# docstring of bench_released.py for the outside wrappers.
set -euo pipefail
ITERS="${1:?usage: RELEASED_PBIP=DIR run.sh ITERS}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
: "${RELEASED_PBIP:?set RELEASED_PBIP to a checkout of github.com/QingchenTang/PBIP}"
export RELEASED_PBIP
export BENCH_HOME="${BENCH_HOME:-$repo/work_dirs/released_pbip_benchmark}"
export BATCH="${BATCH:-10}" BENCH_ITERS="$ITERS"
venv=$(bash "$repo/tools/setup_env.sh")
py="$venv/bin/python"
site="$BENCH_HOME/site"
if [ ! -d "$site/medclip" ]; then
  "$py" -m pip install --quiet --no-deps --target "$site.tmp" \
    MedCLIP==0.0.3 omegaconf==2.3.0 antlr4-python3-runtime==4.9.3 \
    albumentations==1.4.2 scikit-image==0.22.0 ttach==0.0.3 icecream \
    executing asttokens colorama nltk lazy_loader imageio >&2
  rm -rf "$site" && mv "$site.tmp" "$site"
fi
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
export HF_HOME="$BENCH_HOME/hf_home" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false
if [ ! -f "$RELEASED_PBIP/pretrained/mit_b1.pth" ] ||
   [ ! -d "$HF_HOME/hub" ]; then
  "$py" -W ignore "$here/make_assets.py"
fi
env_tag=$([ -n "${GLIBC_TUNABLES:-}" ] && echo tuned || echo default)
export BENCH_OUT="$BENCH_HOME/results/b${BATCH}_i${ITERS}_${env_tag}_$(date +%Y%m%d-%H%M%S).json"
echo "GLIBC_TUNABLES='${GLIBC_TUNABLES:-}' BATCH=$BATCH ITERS=$ITERS -> $BENCH_OUT"
exec "$py" "$here/bench_released.py"
