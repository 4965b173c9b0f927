# Stage two: MMSeg's DeepLabV3+ R-101 trained fully supervised on the PBIP
# pseudo labels of BCSS-WSSS, validated/tested on the real masks.
# 1. python tools/train.py
# configs/pbip/pbip_mit-b1_1xb10-8e_bcss-wsss-224x224.py
# 2. python tools/generate_pseudo_labels.py \
#        configs/pbip/pbip_mit-b1_1xb10-8e_bcss-wsss-224x224.py
#    (best-validation checkpoint of step 1, no test-time augmentation; writes
#    data_root/pseudo_labels/pbip_mit-b1_1xb10-8e_bcss-wsss-224x224/<stem>.png)
# 3. python tools/train.py THIS_CONFIG
# Labels: 4 tissue classes + background (4), as in the dataset's masks.
_base_ = [
    '../_base_/models/deeplabv3plus_r101-d8_histo.py',
    '../_base_/datasets/bcss-wsss.py',
    '../_base_/schedules/sgd_poly_20k.py',
    '../_base_/default_runtime.py',
]
pseudo_label_dir = 'pseudo_labels/pbip_mit-b1_1xb10-8e_bcss-wsss-224x224'
train_dataloader = dict(
    batch_size=8,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        data_prefix=dict(seg_map_path=pseudo_label_dir),
        pipeline={{_base_.pseudo_train_pipeline}}))
