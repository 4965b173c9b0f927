# PBIP stage one on BCSS-WSSS with UNI2-h (MahmoodLab/UNI2-h: ViT-H/14, SwiGLU,
# 8 registers; 1536-d class token at 224 px) as the prototype encoder;
# everything else as pbip_mit-b1_uni_1xb10-8e_bcss-wsss-224x224.py (released
# schedule and data; the encoder sees RGB in [0, 1], resized and normalised as
# its authors publish; the prototype size follows its features). Weights: your
# own download at pretrained/uni2-h/pytorch_model.bin
# (tools/model_converters/inspect_foundation_model.py checks it).
_base_ = [
    '../_base_/models/pbip_mit-b1_uni.py', '../_base_/datasets/bcss-wsss.py',
    '../_base_/schedules/pbip_adamw_poly_8e.py'
]
model = dict(
    image_encoder=dict(
        arch='uni2-h', checkpoint='pretrained/uni2-h/pytorch_model.bin'))
