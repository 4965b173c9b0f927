# Released PBIP schedule: AdamW lr 5e-5, weight decay 1e-3 on every
# parameter, poly decay (power 1, no warm-up), 8 epochs at batch 10,
# validation and a checkpoint after every epoch.
_base_ = ['../default_hooks.py']
# MMEngine's OptimWrapper that skips (and counts) steps whose gradients are
# not finite, and stops after max_consecutive_skips in a row
optim_wrapper = dict(
    type='FiniteGradOptimWrapper',
    optimizer=dict(
        type='AdamW', lr=5e-5, betas=(0.9, 0.999), weight_decay=1e-3))
# Iteration t (from 0) of T = max_epochs x iterations per epoch runs at
# lr_0 * (1 - t / T), as released. No `end`: the Runner takes the loop's.
param_scheduler = [
    dict(
        type='ExclusiveEndPolyLR',
        power=1.0,
        eta_min=0.,
        begin=0,
        by_epoch=True,
        convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=8, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(checkpoint=dict(by_epoch=True, interval=1))
# Several processes: the batch is batch_size x processes, and an epoch has
# fewer iterations. Linear learning-rate scaling from this base is opt-in
# (auto_scale_lr.enable=True).
auto_scale_lr = dict(enable=False, base_batch_size=10)
