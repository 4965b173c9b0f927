# PSCL stage one on BCSS-WSSS: 5 epochs (the poster's peak), batch 10,
# AdamW 1e-4, poly. Val/test report the CAM pseudo-mask quality.
_base_ = [
    '../_base_/models/pscl_swin-t.py', '../_base_/datasets/bcss-wsss.py',
    '../_base_/schedules/pbip_adamw_poly.py', '../_base_/default_runtime.py'
]
max_iters = 11715  # 5 epochs: 5 x ceil(23,422 / 10)
optim_wrapper = dict(optimizer=dict(lr=1e-4, weight_decay=0.01))
param_scheduler = [
    dict(
        type='PolyLR',
        power=1.0,
        eta_min=0.,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=2343)
default_hooks = dict(checkpoint=dict(interval=2343))
