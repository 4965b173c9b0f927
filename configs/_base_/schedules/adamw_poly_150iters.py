# Demo schedule, sized for a 2-core CPU: AdamW lr 1e-3, weight decay 0.01,
# poly decay (power 1) over 150 iterations, validation at the end.
_base_ = ['../default_hooks.py']
# MMEngine's OptimWrapper that skips (and counts) steps whose gradients are
# not finite, and stops after max_consecutive_skips in a row
optim_wrapper = dict(
    type='FiniteGradOptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.01))
# No `end`: the Runner takes the loop's max_iters.
param_scheduler = [
    dict(type='PolyLR', power=1.0, eta_min=0., begin=0, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=150, val_interval=150)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(interval=10), checkpoint=dict(interval=75, max_keep_ckpts=2))
auto_scale_lr = dict(enable=False, base_batch_size=8)
