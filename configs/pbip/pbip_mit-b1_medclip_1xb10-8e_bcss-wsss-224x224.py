# PBIP stage one on BCSS-WSSS in the setting of the paper's Table 3 row
# "MedCLIP + SegFormer": the released-code settings of
# pbip_mit-b1_1xb10-8e_bcss-wsss-224x224.py with MedCLIP's own vision weights
# as the prototype encoder, instead of the released code's stand-in (ImageNet
# Swin-T with a random projection). Weights: MedCLIP's Swin-T checkpoint (the
# MedCLIP release, RyanWangZf/MedCLIP: its pytorch_model.bin, keys
# vision_model.*) at pretrained/medclip/pytorch_model.bin, given by
# model.image_encoder.checkpoint; no Swin-T folder is read. The published
# figures are attached to this config (configs/pbip/README.md); it has not
# been trained here.
_base_ = ['./pbip_mit-b1_1xb10-8e_bcss-wsss-224x224.py']
model = dict(
    image_encoder=dict(
        checkpoint='pretrained/medclip/pytorch_model.bin',
        swin_pretrained=None))
