# Fully supervised SegFormer (MiT-b0) on the demo data: a stock MMSeg model as
# an upper bound and a smoke test of the data, metric and tools. It trains on
# the demo val masks and is tested on the demo test split. Random weights:
# no ImageNet weights are downloaded here, so this says so explicitly.
_base_ = [
    'mmseg::_base_/models/segformer_mit-b0.py',
    '../_base_/models/histo_data_preprocessor.py',
    '../_base_/datasets/demo.py',
    '../_base_/schedules/adamw_poly_150iters.py',
    '../_base_/default_runtime.py',
]
allow_random_init = True
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor={{_base_.histo_data_preprocessor}},
    decode_head=dict(num_classes=5, norm_cfg=norm_cfg))  # 4 tissue + bg

train_dataloader = dict(
    dataset=dict(
        data_prefix=dict(img_path='val/img', seg_map_path='val/mask'),
        cls_label_from='mask',
        pipeline={{_base_.pseudo_train_pipeline}}))  # flips, rot90, masks
val_dataloader = {{_base_.test_dataloader}}

train_cfg = dict(max_iters=200, val_interval=100)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=100))
