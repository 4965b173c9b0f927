# MMSeg's 20k schedule (SGD 0.01, poly 0.9), with this plugin's hooks.
_base_ = ['../default_hooks.py']
optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005)
# MMEngine's OptimWrapper that skips (and counts) steps whose gradients are
# not finite, and stops after max_consecutive_skips in a row
optim_wrapper = dict(
    type='FiniteGradOptimWrapper', optimizer=optimizer, clip_grad=None)
# No `end`: the Runner takes the loop's max_iters.
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=20000, val_interval=2000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# Several processes: the batch is batch_size x processes; linear
# learning-rate scaling from the stage-two batch of 8 is opt-in.
auto_scale_lr = dict(enable=False, base_batch_size=8)
