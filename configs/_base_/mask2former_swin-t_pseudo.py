# PSCL stage two, shared by configs/pscl/mask2former_*: MMSeg's Mask2Former
# Swin-T config (it needs mmdet) re-targeted at a histopathology dataset's
# pseudo labels. The Swin backbone starts from the PSCL stage-one checkpoint
# (`stage1_checkpoint`, its `backbone.*` weights) and the whole model trains
# end to end. Children set the dataset (type, data_root, pseudo-label folder)
# and stage1_checkpoint. Labels: 4 tissue classes + background (4); defaults:
# BCSS-WSSS and the checkpoint of
# configs/pscl/pscl_swin-t_1xb10-5e_bcss-wsss-224x224.py.
# MMSeg ships Mask2Former only as a whole config (model, ADE20K data,
# schedule, runtime), and MMEngine refuses a key that two bases of one file
# both define: so this file states the BCSS-WSSS data of
# ./datasets/bcss-wsss.py, the plugin's hooks of ./default_hooks.py and the
# runtime keys of ./default_runtime.py again instead of inheriting them.
_base_ = [
    'mmseg::mask2former/mask2former_swin-t_8xb2-160k_ade20k-512x512.py',
    './models/histo_data_preprocessor.py'
]
# mmdet's models (the 'pscl' extra), or an error naming the extra
custom_imports = dict(
    imports=['mmseg_pbip.models.mmdet_components', 'mmseg_pbip'],
    allow_failed_imports=False)
default_scope = 'mmseg'
num_classes = 5
crop_size = (224, 224)
stage1_checkpoint = ('work_dirs/pscl_swin-t_1xb10-5e_bcss-wsss-224x224/'
                     'epoch_5.pth')
data_preprocessor = {{_base_.histo_data_preprocessor}}  # size 224 x 224
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        init_cfg=dict(checkpoint=stage1_checkpoint, prefix='backbone.')),
    decode_head=dict(
        num_classes=num_classes,
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])))
dataset_type = 'BCSSWSSSDataset'
data_root = 'data/BCSS-WSSS'
pseudo_label_dir = 'pseudo_labels/pscl_swin-t_1xb10-5e_bcss-wsss-224x224'
train_pipeline = [
    dict(type='LoadHistoImageFromFile'),
    dict(type='LoadHistoAnnotations'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomFlip', prob=0.5, direction='vertical'),
    dict(type='RandomRotate90', prob=0.5, quarter_turns=(0, 1, 2, 3)),
    dict(type='PackHistoSegInputs'),
]
test_pipeline = [
    dict(type='LoadHistoImageFromFile'),
    dict(type='LoadHistoAnnotations'),
    dict(type='PackHistoSegInputs'),
]
# `--tta`: the views of ../_base_/default_runtime.py (the image as it is and
# flipped left-right, read as the data above), not MMSeg's ADE20K scales
tta_model = dict(type='HistoTTAModel')
tta_pipeline = [
    dict(type='LoadHistoImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='RandomFlip', prob=0., direction='horizontal'),
                dict(type='RandomFlip', prob=1., direction='horizontal')
            ],
            [dict(type='LoadHistoAnnotations')],
            [dict(type='PackHistoSegInputs')],
        ])
]
train_dataloader = dict(
    _delete_=True,
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='training', seg_map_path=pseudo_label_dir),
        cls_label_from='filename',
        pipeline=train_pipeline))
val_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='val/img', seg_map_path='val/mask'),
        cls_label_from='mask',
        pipeline=test_pipeline))
test_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='test/img', seg_map_path='test/mask'),
        cls_label_from='mask',
        pipeline=test_pipeline))
val_evaluator = dict(
    _delete_=True,
    type='HistoSegMetric',
    background_mode='count',
    boundary_ratio=0.02)
test_evaluator = val_evaluator
# MMSeg's optimiser (AdamW, clipping), through the wrapper that skips (and
# counts) steps whose gradients are not finite
optim_wrapper = dict(type='FiniteGradOptimWrapper')
# No `end`: the Runner takes the loop's max_iters.
param_scheduler = [
    dict(type='PolyLR', eta_min=0, power=0.9, begin=0, by_epoch=False)
]
train_cfg = dict(max_iters=20000, val_interval=2000)
# MMSeg's hooks of the config above, plus this plugin's protections (as in
# ./default_hooks.py)
default_hooks = dict(
    checkpoint=dict(
        type='AtomicCheckpointHook',
        interval=2000,
        max_keep_ckpts=3,
        save_last=True),
    non_finite_loss=dict(type='NonFiniteLossHook'),
    safe_loading=dict(type='SafeCheckpointLoadingHook'),
    checkpoint_check=dict(type='CheckpointCompatibilityHook'),
    visualization=dict(interval=1))
custom_hooks = [dict(type='WeightSourceCheckHook')]
allow_random_init = False
env_cfg = dict(cudnn_benchmark=False)
# as in ./default_runtime.py: MMEngine's DDP (DeviceAgnosticDDP for CPU
# processes, set by the tools)
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel',
    broadcast_buffers=False,
    find_unused_parameters=False)
