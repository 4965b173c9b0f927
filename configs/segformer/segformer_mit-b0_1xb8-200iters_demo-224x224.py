# Fully supervised SegFormer (MiT-b0) on the demo data: a stock MMSeg model as
# an upper bound and a smoke test of the data, metric and tools. It trains on
# the demo val masks and is tested on the demo test split. Random weights:
# no ImageNet weights are downloaded here, so this says so explicitly.
_base_ = [
    'mmseg::_base_/models/segformer_mit-b0.py',
    '../_base_/models/histo_data_preprocessor.py',
    '../_base_/datasets/demo.py',
    '../_base_/default_runtime.py',
]
allow_random_init = True
crop_size = (224, 224)
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

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.01))
param_scheduler = [
    dict(
        type='PolyLR', power=1.0, eta_min=0, begin=0, end=200, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=200, val_interval=100)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    checkpoint=dict(
        type='AtomicCheckpointHook',
        by_epoch=False,
        interval=100,
        max_keep_ckpts=2,
        save_last=True))
