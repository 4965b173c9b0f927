# PBIP stage one on BCSS-WSSS with H-optimus-1 (bioptimus/H-optimus-1:
# H-optimus-0's architecture and statistics, other weights) as the prototype
# encoder; everything else as pbip_mit-b1_uni_1xb10-8e_bcss-wsss-224x224.py
# (released schedule and data; the encoder sees RGB in [0, 1], resized and
# normalised as its authors publish; the prototype size follows its features).
# Weights: your own download at pretrained/h-optimus-1
# (tools/model_converters/inspect_foundation_model.py checks it).
_base_ = [
    '../_base_/models/pbip_mit-b1_uni.py', '../_base_/datasets/bcss-wsss.py',
    '../_base_/schedules/pbip_adamw_poly_8e.py'
]
model = dict(
    image_encoder=dict(
        arch='h-optimus-1', checkpoint='pretrained/h-optimus-1'))
