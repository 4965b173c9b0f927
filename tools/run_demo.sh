#!/usr/bin/env bash
# The main job on the embedded demo data, on a CPU, in one command:
#   demo data -> image bank + PBIP stage one -> stage-one test (CAM pseudo
#   masks) -> pseudo labels, scored against the training patches' true masks
#   (which training never reads) -> DeepLabV3+ stage two -> stage-two test
#   -> summary of mIoU / FwIoU / bIoU / Dice and per-class IoU for both stages
#   and the pseudo labels -> a synthetic
#   whole slide mapped by the stage-one model (mask TIFF, overview, QuPath
#   GeoJSON, area table).
# Synthetic data and RANDOM weights (no weights can be downloaded here): the
# numbers show that the pipeline works, not what the method reaches.
# On first use this creates the environment (tools/setup_env.sh).
#   STAGE1=... STAGE2=... WORK_DIR=... bash tools/run_demo.sh
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$(bash "$here/tools/setup_env.sh")
py="$venv/bin/python"
cd "$here"
export PYTHONWARNINGS=${PYTHONWARNINGS:-ignore}
stage1=${STAGE1:-configs/pbip/pbip_mit-b1_1xb8-150iters_demo-224x224.py}
stage2=${STAGE2:-configs/pbip/deeplabv3plus_r18-d16_1xb8-150iters_demo-pseudo-224x224.py}
work=${WORK_DIR:-work_dirs/demo}
w1="$work/$(basename "$stage1" .py)"
w2="$work/$(basename "$stage2" .py)"
pseudo="data/demo/pseudo_labels/$(basename "$stage1" .py)"
start=$(date +%s)
step() { echo "[run_demo] $(( $(date +%s) - start )) s: $*"; }

step "demo data"
"$py" tools/generate_demo_data.py data/demo
step "stage one: training $(basename "$stage1" .py)"
"$py" tools/train.py "$stage1" --work-dir "$w1"
step "stage one: test of its CAM pseudo masks on the demo test split"
"$py" tools/test.py "$stage1" "$(cat "$w1/last_checkpoint")" \
  --work-dir "$w1/test" --show-dir "$w1/test/overlays"
step "pseudo labels for every training image (best-validation checkpoint)"
rm -rf "$pseudo"  # they belong to the checkpoint just trained
"$py" tools/generate_pseudo_labels.py "$stage1" --work-dir "$w1" \
  --out-dir "$pseudo" --overlay-dir "$w1/pseudo_label_overlays"
step "pseudo-label quality on the training split (the demo's true masks)"
"$py" tools/analysis_tools/eval_pseudo_labels.py "$stage1" "$pseudo" \
  data/demo/training_mask --work-dir "$w1/pseudo_label_eval"
step "stage two: training $(basename "$stage2" .py) on the pseudo labels"
stage2_opts=()
if "$py" -c 'import sys; from mmengine.config import Config
sys.exit("stage1_checkpoint" not in Config.fromfile(sys.argv[1]))' "$stage2"; then
  # a stage two started from stage one's weights (PSCL's Mask2Former): the
  # checkpoint of this run, wherever WORK_DIR puts it
  stage2_opts=(--cfg-options
    "model.backbone.init_cfg.checkpoint=$(cat "$w1/last_checkpoint")")
fi
"$py" tools/train.py "$stage2" --work-dir "$w2" "${stage2_opts[@]}"
step "stage two: test"
"$py" tools/test.py "$stage2" "$(cat "$w2/last_checkpoint")" \
  --work-dir "$w2/test" --show-dir "$w2/test/overlays"
step "whole slide: a synthetic pyramidal TIFF mapped by the stage-one model"
"$py" tools/generate_demo_slide.py data/demo/slides/demo_slide.tiff
"$py" tools/infer_wsi.py "$stage1" "$(ls -t "$w1"/best_*.pth | head -1)" \
  data/demo/slides/demo_slide.tiff --out-dir "$work/wsi" --no-progress
step "summary"
"$py" tools/analysis_tools/multi_seed_report.py collect \
  "$w1" "$w1/pseudo_label_eval" "$w2" \
  --names "stage one (test): $(basename "$stage1" .py)" \
  "pseudo labels (training split, true masks)" \
  "stage two (test): $(basename "$stage2" .py)" \
  --out "$work/summary.json"
cat <<MSG
[run_demo] done in $(( $(date +%s) - start )) s. Synthetic data, random weights.
  stage one:  $w1 (test overlays: $w1/test/overlays, pseudo-label overlays: $w1/pseudo_label_overlays)
  pseudo labels: $pseudo
  stage two:  $w2 (test overlays: $w2/test/overlays)
  whole slide: $work/wsi/demo_slide/ (mask.tiff, overview.png, annotations.geojson, areas.csv)
  summary:    $work/summary.md, $work/summary.json
MSG
