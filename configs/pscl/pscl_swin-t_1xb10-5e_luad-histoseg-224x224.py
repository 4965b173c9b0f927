# PSCL stage one on LUAD-HistoSeg: 5 epochs, batch 10.
_base_ = [
    '../_base_/models/pscl_swin-t.py', '../_base_/datasets/luad-histoseg.py',
    '../_base_/schedules/pbip_adamw_poly.py', '../_base_/default_runtime.py'
]
max_iters = 8340  # 5 x 16,678 / 10
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
train_cfg = dict(max_iters=max_iters, val_interval=1668)
default_hooks = dict(checkpoint=dict(interval=1668))
