# PBIP stage one on the embedded synthetic demo data, sized for a 2-core CPU
# (a few minutes). RANDOM WEIGHTS: no MiT or MedCLIP weights can be
# downloaded here, so the backbone and the prototype encoder start random
# (allow_random_init, logged loudly). The encoder is a small Swin at 112 px
# so the ImgMatch loss stays affordable on CPU. Everything else computes the
# released code's maths (pbip_mit-b1.py); only the schedule is the demo's:
# 150 iterations at lr 1e-3 (from random weights the released head, whose
# projected prototypes start near zero, needs the larger step: test mIoU
# 61.15 against 38.79 at 2e-4 on the demo). Scores show that the pipeline
# works, not what the method reaches with pretrained weights.
_base_ = [
    '../_base_/models/pbip_mit-b1.py', '../_base_/datasets/demo.py',
    '../_base_/schedules/adamw_poly_150iters.py'
]
allow_random_init = True
model = dict(
    backbone=dict(init_cfg=None),
    image_encoder=dict(
        swin_pretrained=None,
        allow_random_init=True,
        input_size=112,
        hf_config=dict(
            image_size=112,
            embed_dim=32,
            depths=[1, 1, 2],
            num_heads=[1, 2, 4],
            window_size=7)))
# the released optimiser and poly decay (lr_0 (1 - t / T)), demo length
optim_wrapper = dict(optimizer=dict(weight_decay=1e-3))
param_scheduler = [dict(type='ExclusiveEndPolyLR', power=1.0, by_epoch=False)]
