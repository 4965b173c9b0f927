# PBIP stage one on gcss (20000 training patches): 8 epochs at batch 10,
# released-code settings (see pbip_mit-b1_1xb10-8e_bcss-wsss-224x224.py).
_base_ = [
    '../_base_/models/pbip_mit-b1.py', '../_base_/datasets/gcss.py',
    '../_base_/schedules/pbip_adamw_poly.py', '../_base_/default_runtime.py'
]
max_iters = 16000
param_scheduler = [
    dict(
        type='PolyLR',
        power=1.0,
        eta_min=0.,
        begin=0,
        end=max_iters + 1,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=2000)
custom_hooks = [dict(type='WeightSourceCheckHook'), {{_base_.image_bank_hook}}]
default_hooks = dict(checkpoint=dict(interval=2000))
