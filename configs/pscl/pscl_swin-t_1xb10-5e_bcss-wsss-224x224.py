# PSCL stage one on BCSS-WSSS: 5 epochs (the poster's peak), batch 10,
# AdamW 1e-4, poly. Val/test report the CAM pseudo-mask quality.
_base_ = [
    '../_base_/models/pscl_swin-t.py', '../_base_/datasets/bcss-wsss.py',
    '../_base_/schedules/pscl_adamw_poly_5e.py'
]
