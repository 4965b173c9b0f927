# PBIP on BCSS-WSSS with the paper's values where they differ from the code:
# plain cosine scores (eq. 2, no logit scale), stages 1-3 weighted 1
# (eq. 7-8) and fused equally (eq. 3), mean merge, no test-time augmentation,
# delta = 0.15, temperature 1, alpha = 1, beta = 0.5, theta = (1, 0.5),
# no CAM regulariser; AdamW lr 1e-5, weight decay 0.003, 10 epochs.
_base_ = ['./pbip_mit-b1_bcss-wsss.py']
max_iters = 23430  # 10 epochs x 23,422 / 10
model = dict(
    head=dict(logit_scale=1.0, learnable_scale=False),
    cls_loss=dict(stage_weights=(1., 1., 1., 0.)),
    match_loss=dict(
        threshold=0.15,
        temperature=1.0,
        fg_weight=0.5 * 1.0,
        bg_weight=0.5 * 0.5,
        cam_reg_weight=0.),
    test_merge='mean',
    cam_fusion_weights=(1., 1., 1., 0.),
    tta_flips=(False, ),
    tta_intensities=(1.0, ))
optim_wrapper = dict(optimizer=dict(lr=1e-5, weight_decay=0.003))
param_scheduler = [
    dict(type='PolyLR', power=1.0, eta_min=0., begin=0, end=max_iters,
         by_epoch=False)
]
train_cfg = dict(max_iters=max_iters)
