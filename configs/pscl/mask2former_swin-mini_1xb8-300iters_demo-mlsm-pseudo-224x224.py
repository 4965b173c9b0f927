# Stage two of the MLSM baseline on the demo data (same as the PSCL one, from
# the MLSM stage-one checkpoint and pseudo labels).
_base_ = ['./mask2former_swin-mini_1xb8-300iters_demo-pseudo-224x224.py']
stage1_checkpoint = (
    'work_dirs/demo/mlsm_swin-mini_1xb8-150iters_demo-224x224/'
    'iter_150.pth')
model = dict(backbone=dict(init_cfg=dict(checkpoint=stage1_checkpoint)))
train_dataloader = dict(
    dataset=dict(
        data_prefix=dict(
            seg_map_path=('pseudo_labels/'
                          'mlsm_swin-mini_1xb8-150iters_demo-224x224'))))
