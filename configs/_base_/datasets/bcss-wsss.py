# BCSS-WSSS (docs/datasets.md). Override `data_root` to your copy:
#   data_root/training/*+0[1101].png, data_root/{val,test}/{img,mask}/*.png
dataset_type = 'BCSSWSSSDataset'
data_root = 'data/BCSS-WSSS'
crop_size = (224, 224)
# Training split: image-level labels from the file names, no masks.
# Flips and 90-degree rotations only, as in the released PBIP code
# (albumentations' RandomRotate90(p=0.5) draws k from 0-3: 37.5 % rotated).
train_pipeline = [
    dict(type='LoadHistoImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomFlip', prob=0.5, direction='vertical'),
    dict(type='RandomRotate90', prob=0.5, quarter_turns=(0, 1, 2, 3)),
    dict(type='PackHistoSegInputs'),
]
# Val/test: masks (4 = background); image-level labels derived from them.
test_pipeline = [
    dict(type='LoadHistoImageFromFile'),
    dict(type='LoadHistoAnnotations'),
    dict(type='PackHistoSegInputs'),
]
# Stage one counts epochs as the released code does (DataLoader with
# shuffle=True, restarted every epoch): a new permutation each epoch and a
# short last batch (23,422 % 10 = 2 patches). Iteration-based configs (stage
# two, the demos) set MMSeg's InfiniteSampler.
train_dataloader = dict(
    batch_size=10,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='training'),
        cls_label_from='filename',
        pipeline=train_pipeline))
val_dataloader = dict(
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
# Background pixels (mask value 4) count as a label, as in the released PBIP
# evaluation; background_mode='ignore' reproduces MLPS / WSSS-Tissue.
val_evaluator = dict(
    type='HistoSegMetric', background_mode='count', boundary_ratio=0.02)
test_evaluator = val_evaluator

# Stage two: the training split paired with a folder of pseudo-label PNGs
# (data_prefix.seg_map_path, relative to data_root); labels stay those of the
# file names, masks come from the pseudo labels.
pseudo_train_pipeline = (
    train_pipeline[:1] + [dict(type='LoadHistoAnnotations')] +
    train_pipeline[1:])
# What tools/generate_pseudo_labels.py runs the stage-one model on.
pseudo_label_pipeline = [test_pipeline[0], test_pipeline[-1]]

# Whole-slide inference (tools/infer_wsi.py) runs the model at the training
# patches' resolution: BCSS-WSSS names say MPP-0.2500 (40x).
wsi_mpp = 0.25
