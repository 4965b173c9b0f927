# Stage two on the demo data: DeepLabV3+ with a ResNet-18 at output stride
# 16 (so that it runs in minutes on a CPU), trained on the pseudo labels of
# configs/pbip/pbip_mit-b1_1xb8-150iters_demo-224x224.py, tested on the demo
# test masks.
# RANDOM WEIGHTS (allow_random_init): no ImageNet ResNet is downloaded here.
_base_ = [
    'mmseg::_base_/models/deeplabv3plus_r50-d8.py',
    '../_base_/models/histo_data_preprocessor.py',
    '../_base_/datasets/demo.py',
    '../_base_/schedules/adamw_poly_150iters.py',
    '../_base_/default_runtime.py',
]
allow_random_init = True
pseudo_label_dir = 'pseudo_labels/pbip_mit-b1_1xb8-150iters_demo-224x224'
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
        num_classes=5),
    auxiliary_head=dict(in_channels=256, channels=32, num_classes=5))
train_dataloader = dict(
    dataset=dict(
        data_prefix=dict(seg_map_path=pseudo_label_dir),
        pipeline={{_base_.pseudo_train_pipeline}}))
