# PBIP stage one on BCSS-WSSS with UNI as both the CAM network's backbone
# (frozen ViT-L/16, four feature maps) and the prototype encoder (see
# ../_base_/models/pbip_uni-vitl16_uni.py); schedule, data and evaluation as
# pbip_mit-b1_1xb10-8e_bcss-wsss-224x224.py.
_base_ = [
    '../_base_/models/pbip_uni-vitl16_uni.py',
    '../_base_/datasets/bcss-wsss.py',
    '../_base_/schedules/pbip_adamw_poly_8e.py'
]
