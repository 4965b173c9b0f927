# PSCL stage one: AdamW lr 1e-4, weight decay 0.01, poly decay (MMEngine's
# PolyLR, power 1, reaching 0 at the last iteration), 5 epochs (the poster's
# peak) at batch 10; validation and a checkpoint after every epoch.
_base_ = ['./pbip_adamw_poly_8e.py']
optim_wrapper = dict(optimizer=dict(lr=1e-4, weight_decay=0.01))
param_scheduler = [
    dict(type='PolyLR', power=1.0, by_epoch=True, convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=5)
