#!/usr/bin/env bash
# The main job on the embedded demo data, on CPU: write the synthetic
# BCSS-WSSS-format demo set, build the image bank and train PBIP stage one
# (configs/pbip/pbip_mit-b1_demo.py), then test its CAM pseudo masks with
# mIoU / FwIoU / bIoU / Dice.
# On first use this creates the environment (tools/setup_env.sh).
#   CONFIG=... WORK_DIR=... bash tools/run_demo.sh [extra tools/train.py args]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$(bash "$here/tools/setup_env.sh")
py="$venv/bin/python"
cd "$here"
config=${CONFIG:-configs/pbip/pbip_mit-b1_demo.py}
name=$(basename "$config" .py)
work_dir=${WORK_DIR:-work_dirs/demo/$name}

"$py" tools/generate_demo_data.py data/demo
"$py" tools/train.py "$config" --work-dir "$work_dir" "$@"
ckpt=$(cat "$work_dir/last_checkpoint")
"$py" tools/test.py "$config" "$ckpt" --work-dir "$work_dir/test" \
  --show-dir "$work_dir/test/overlays"
echo "[run_demo] checkpoint: $ckpt"
echo "[run_demo] test metrics: $work_dir/test (overlays under $work_dir/test/overlays)"
