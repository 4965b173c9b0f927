# PSCL stage one: AdamW lr 1e-4, weight decay 0.01, poly decay (MMEngine's
# PolyLR, power 1, reaching 0 at the last iteration), 5 epochs (the poster's
# peak) at batch 10; validation and a checkpoint after every epoch.
_base_ = ['../default_hooks.py']
# MMEngine's OptimWrapper that skips (and counts) steps whose gradients are
# not finite, and stops after max_consecutive_skips in a row
optim_wrapper = dict(
    type='FiniteGradOptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.01))
# No `end`: the Runner takes the loop's.
param_scheduler = [
    dict(type='PolyLR', power=1.0, by_epoch=True, convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=5, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(checkpoint=dict(by_epoch=True, interval=1))
# Several processes: the batch is batch_size x processes. Linear learning-rate
# scaling from this base is opt-in (auto_scale_lr.enable=True).
auto_scale_lr = dict(enable=False, base_batch_size=10)
