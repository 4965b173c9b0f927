# PBIP stage one on BCSS-WSSS with UNI as the prototype encoder (see
# ../_base_/models/pbip_mit-b1_uni.py); schedule, data and evaluation as
# pbip_mit-b1_1xb10-8e_bcss-wsss-224x224.py (released settings: 8 epochs at
# batch 10).
_base_ = [
    '../_base_/models/pbip_mit-b1_uni.py', '../_base_/datasets/bcss-wsss.py',
    '../_base_/schedules/pbip_adamw_poly_8e.py'
]
