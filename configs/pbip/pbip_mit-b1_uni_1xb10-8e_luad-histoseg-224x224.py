# PBIP stage one on LUAD-HistoSeg with UNI as the prototype encoder (see
# ../_base_/models/pbip_mit-b1_uni.py); schedule as
# pbip_mit-b1_1xb10-8e_luad-histoseg-224x224.py (8 epochs of 16678 patches at
# batch 10).
_base_ = [
    '../_base_/models/pbip_mit-b1_uni.py',
    '../_base_/datasets/luad-histoseg.py',
    '../_base_/schedules/pbip_adamw_poly_8e.py'
]
