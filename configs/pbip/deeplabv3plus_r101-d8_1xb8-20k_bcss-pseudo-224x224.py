# Stage two on BCSS: DeepLabV3+ R-101 on the PBIP pseudo labels
# (tools/generate_pseudo_labels.py
# configs/pbip/pbip_mit-b1_1xb10-8e_bcss-224x224.py CKPT).
_base_ = [
    '../_base_/models/deeplabv3plus_r101-d8_histo.py',
    '../_base_/datasets/bcss.py',
    '../_base_/schedules/sgd_poly_20k.py',
    '../_base_/default_runtime.py',
]
pseudo_label_dir = 'pseudo_labels/pbip_mit-b1_1xb10-8e_bcss-224x224'
train_dataloader = dict(
    batch_size=8,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        data_prefix=dict(seg_map_path=pseudo_label_dir),
        pipeline={{_base_.pseudo_train_pipeline}}))
