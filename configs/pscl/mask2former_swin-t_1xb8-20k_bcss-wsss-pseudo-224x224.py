# PSCL stage two on BCSS-WSSS: Mask2Former on the PSCL Swin-T, end to end on
# data/BCSS-WSSS/pseudo_labels/pscl_swin-t_1xb10-5e_bcss-wsss-224x224 (written
# by
# tools/generate_pseudo_labels.py
# configs/pscl/pscl_swin-t_1xb10-5e_bcss-wsss-224x224.py CKPT), validated and
# tested on the real masks.
_base_ = [
    '../_base_/models/mask2former_swin-t_histo.py',
    '../_base_/datasets/bcss-wsss.py',
    '../_base_/schedules/mask2former_adamw_poly_20k.py',
]
pseudo_label_dir = 'pseudo_labels/pscl_swin-t_1xb10-5e_bcss-wsss-224x224'
train_dataloader = dict(
    batch_size=8,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        data_prefix=dict(seg_map_path=pseudo_label_dir),
        pipeline={{_base_.pseudo_train_pipeline}}))
