# BCSS, fully annotated, 4-class subset. Training image-level labels come from
# the training masks (the weakly supervised protocol never trains on them):
#   data_root/{train,val,test}/{img,mask}/*.png
_base_ = ['./bcss-wsss.py']
dataset_type = 'BCSSDataset'
data_root = 'data/BCSS'
train_pipeline = [
    dict(type='LoadHistoImageFromFile'),
    dict(type='LoadHistoAnnotations'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomFlip', prob=0.5, direction='vertical'),
    dict(type='RandomRotate90', prob=0.5, quarter_turns=(0, 1, 2, 3)),
    # The mask gave the image-level label; the model never sees it.
    dict(type='PackHistoSegInputs', with_seg=False),
]
train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='train/img', seg_map_path='train/mask'),
        cls_label_from='mask',
        pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
# The stage-one model sees the image-level label derived from the mask.
pseudo_label_pipeline = [
    dict(type='LoadHistoImageFromFile'),
    dict(type='LoadHistoAnnotations'),
    dict(type='PackHistoSegInputs', with_seg=False),
]
# Whole-slide inference: BCSS regions are cut from 40x TCGA slides
# (0.25 um/px).
wsi_mpp = 0.25
