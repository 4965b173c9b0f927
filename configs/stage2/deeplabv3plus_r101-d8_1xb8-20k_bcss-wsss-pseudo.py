# Stage two: MMSeg's DeepLabV3+ R-101 trained fully supervised on the PBIP
# pseudo labels of BCSS-WSSS, validated/tested on the real masks.
# 1. python tools/train.py configs/pbip/pbip_mit-b1_bcss-wsss.py
# 2. python tools/generate_pseudo_labels.py configs/pbip/pbip_mit-b1_bcss-wsss.py \
#        work_dirs/pbip_mit-b1_bcss-wsss/iter_18740.pth
#    (writes data_root/pseudo_labels/pbip_mit-b1_bcss-wsss/<stem>.png)
# 3. python tools/train.py THIS_CONFIG
# Labels: 4 tissue classes + background (4), as in the dataset's masks.
_base_ = [
    'mmseg::_base_/models/deeplabv3plus_r50-d8.py',
    '../_base_/models/histo_data_preprocessor.py',
    '../_base_/datasets/bcss-wsss.py',
    '../_base_/schedules/sgd_poly_20k.py',
    '../_base_/default_runtime.py',
]
pseudo_label_dir = 'pseudo_labels/pbip_mit-b1_bcss-wsss'
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
        data_prefix=dict(img_path='training', seg_map_path=pseudo_label_dir),
        pipeline={{_base_.pseudo_train_pipeline}}))
