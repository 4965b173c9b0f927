# Released PBIP schedule: AdamW lr 5e-5, weight decay 1e-3, poly decay
# (power 1), batch 10; set `max_iters` to epochs x len(train) / batch.
max_iters = 18744  # 8 epochs of BCSS-WSSS: 8 x ceil(23,422 / 10)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=5e-5, betas=(0.9, 0.999), weight_decay=1e-3))
# MMEngine's PolyLR reaches eta_min at `end - 1`: with end = max_iters + 1,
# iteration t (from 0) runs at lr_0 * (1 - t / max_iters), as released.
param_scheduler = [
    dict(
        type='PolyLR',
        power=1.0,
        eta_min=0.,
        begin=0,
        end=max_iters + 1,
        by_epoch=False)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=2343)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# Several processes: the batch is batch_size x processes. Linear learning-rate
# scaling from this base is opt-in (auto_scale_lr.enable=True), since the
# iteration count above is per epoch of one process.
auto_scale_lr = dict(enable=False, base_batch_size=10)
