# PBIP stage one on luad-histoseg (16678 training patches): 8 epochs at
# batch 10, released-code settings (see
# pbip_mit-b1_1xb10-8e_bcss-wsss-224x224.py).
_base_ = [
    '../_base_/models/pbip_mit-b1.py', '../_base_/datasets/luad-histoseg.py',
    '../_base_/schedules/pbip_adamw_poly_8e.py'
]
