# Stage two on the demo data: DeepLabV3+ with a ResNet-18 at output stride
# 16 (so that it runs in minutes on a CPU), trained on the pseudo labels of
# configs/pbip/pbip_mit-b1_1xb8-150iters_demo-224x224.py, tested on the demo
# test masks.
# RANDOM WEIGHTS (allow_random_init): no ImageNet ResNet is downloaded here.
# Ours, for the demo: the cross-entropy is class-weighted by median-frequency
# balancing of the pseudo labels (TUM 30.1 %, STR 41.1 %, LYM 12.6 %,
# NEC 16.3 % of the pixels the loader yields), as printed by
#   python tools/analysis_tools/dataloader_label_counts.py THIS_CONFIG
# From random weights in 150 iterations the unweighted loss never predicts
# LYM (val IoU 0 at every one of iterations 25-150); weighted, LYM is
# learnt by iteration 50 (docs/methods.md, "Demo stage two"). Real datasets
# with an ImageNet backbone and 20k iterations (the deeplab* configs) keep
# MMSeg's plain cross-entropy; run the tool on your pseudo labels first.
_base_ = [
    'mmseg::_base_/models/deeplabv3plus_r50-d8.py',
    '../_base_/models/histo_data_preprocessor.py',
    '../_base_/datasets/demo.py',
    '../_base_/schedules/adamw_poly_150iters.py',
    '../_base_/default_runtime.py',
]
allow_random_init = True
pseudo_label_dir = 'pseudo_labels/pbip_mit-b1_1xb8-150iters_demo-224x224'
# TUM, STR, LYM, NEC, background (absent from pseudo labels: 1)
class_weight = [0.77, 0.56, 1.84, 1.42, 1.0]
model = dict(
    data_preprocessor={{_base_.histo_data_preprocessor}},
    pretrained=None,
    backbone=dict(depth=18, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2)),
    decode_head=dict(
        in_channels=512,
        c1_in_channels=64,
        c1_channels=12,
        channels=64,
        dilations=(1, 6, 12, 18),
        num_classes=5,
        loss_decode=dict(class_weight=class_weight)),
    auxiliary_head=dict(
        in_channels=256,
        channels=32,
        num_classes=5,
        loss_decode=dict(class_weight=class_weight)))
train_dataloader = dict(
    dataset=dict(
        data_prefix=dict(seg_map_path=pseudo_label_dir),
        pipeline={{_base_.pseudo_train_pipeline}}))
