# PBIP stage one on BCSS-WSSS with H-optimus-0 (bioptimus/H-optimus-0:
# ViT-g/14, 4 registers; 1536-d class token of 224 px tiles, Bioptimus'
# statistics) as the prototype encoder; everything else as
# pbip_mit-b1_uni_1xb10-8e_bcss-wsss-224x224.py (released schedule and data;
# the encoder sees RGB in [0, 1], resized and normalised as its authors
# publish; the prototype size follows its features). Weights: your own download
# at pretrained/h-optimus-0 (tools/model_converters/inspect_foundation_model.py
# checks it).
_base_ = [
    '../_base_/models/pbip_mit-b1_uni.py', '../_base_/datasets/bcss-wsss.py',
    '../_base_/schedules/pbip_adamw_poly_8e.py'
]
model = dict(
    image_encoder=dict(
        arch='h-optimus-0', checkpoint='pretrained/h-optimus-0'))
