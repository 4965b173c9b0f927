# PBIP stage one on BCSS-WSSS, released-code settings (8 epochs, batch 10).
# Validation/test report the quality of the CAM pseudo masks (HistoSegMetric,
# background counted as in the released evaluation).
_base_ = [
    '../_base_/models/pbip_mit-b1.py', '../_base_/datasets/bcss-wsss.py',
    '../_base_/schedules/pbip_adamw_poly.py', '../_base_/default_runtime.py'
]
custom_hooks = [
    dict(type='WeightSourceCheckHook'),
    dict(
        type='ImageBankHook',
        bank_file='work_dirs/image_banks/bcss-wsss_medclip-swin.pth',
        k_per_class=3,
        n_per_cluster=100,
        max_white_fraction=0.5),
]
default_hooks = dict(checkpoint=dict(interval=2343))
