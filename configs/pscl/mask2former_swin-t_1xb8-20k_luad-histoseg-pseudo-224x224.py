# PSCL stage two on LUAD-HistoSeg (as the BCSS-WSSS config, from the PSCL
# stage-one checkpoint and pseudo labels of LUAD-HistoSeg).
_base_ = [
    '../_base_/models/mask2former_swin-t_histo.py',
    '../_base_/datasets/luad-histoseg.py',
    '../_base_/schedules/mask2former_adamw_poly_20k.py',
]
stage1_checkpoint = ('work_dirs/pscl_swin-t_1xb10-5e_luad-histoseg-224x224/'
                     'epoch_5.pth')
model = dict(backbone=dict(init_cfg=dict(checkpoint=stage1_checkpoint)))
pseudo_label_dir = 'pseudo_labels/pscl_swin-t_1xb10-5e_luad-histoseg-224x224'
train_dataloader = dict(
    batch_size=8,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        data_prefix=dict(seg_map_path=pseudo_label_dir),
        pipeline={{_base_.pseudo_train_pipeline}}))
