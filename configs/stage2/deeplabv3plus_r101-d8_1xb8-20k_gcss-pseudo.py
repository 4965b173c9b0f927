# Stage two on GCSS: DeepLabV3+ R-101 on the PBIP pseudo labels
# (tools/generate_pseudo_labels.py configs/pbip/pbip_mit-b1_gcss.py CKPT).
_base_ = [
    'mmseg::_base_/models/deeplabv3plus_r50-d8.py',
    '../_base_/models/histo_data_preprocessor.py',
    '../_base_/datasets/gcss.py',
    '../_base_/schedules/sgd_poly_20k.py',
    '../_base_/default_runtime.py',
]
pseudo_label_dir = 'pseudo_labels/pbip_mit-b1_gcss'
model = dict(
    data_preprocessor={{_base_.histo_data_preprocessor}},
    pretrained=None,
    backbone=dict(
        depth=101,
        init_cfg=dict(
            type='Pretrained', checkpoint='pretrained/resnet101_v1c.pth')),
    decode_head=dict(num_classes=5),
    auxiliary_head=dict(num_classes=5))
train_dataloader = dict(
    batch_size=8,
    dataset=dict(
        data_prefix=dict(img_path='train/img', seg_map_path=pseudo_label_dir),
        cls_label_from='mask',
        pipeline={{_base_.pseudo_train_pipeline}}))
