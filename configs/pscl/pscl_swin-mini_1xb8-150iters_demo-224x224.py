# PSCL stage one on the demo data, sized for a CPU: a small Swin (random
# weights, allow_random_init), 150 iterations, same data and schedule shape
# as configs/pbip/pbip_mit-b1_1xb8-150iters_demo-224x224.py.
_base_ = [
    '../_base_/models/pscl_swin-t.py', '../_base_/datasets/demo.py',
    '../_base_/schedules/adamw_poly_150iters.py'
]
allow_random_init = True
model = dict(
    backbone=dict(
        embed_dims=32,
        depths=[1, 1, 2, 1],
        num_heads=[1, 2, 4, 8],
        init_cfg=None),
    head=dict(in_channels=256),
    pscl_loss=dict(in_channels=256, proj_channels=64))
optim_wrapper = dict(optimizer=dict(lr=2e-4))
