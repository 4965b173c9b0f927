# PBIP stage one with a pathology foundation model as the CAM network's
# backbone too: UNI's ViT-L/16 gives four feature maps (blocks 6, 12, 18, 24,
# prefix tokens removed, final LayerNorm applied; 1024 x 14 x 14 at 224 px)
# to the SIM head; UNI is also the prototype encoder (pbip_mit-b1_uni.py).
# The ViT is frozen (trainable_blocks=0): the head's prototype projections
# and scales learn the CAMs; set model.backbone.trainable_blocks=N to
# fine-tune its last N blocks. The network input is RGB normalised with the
# model card's (ImageNet) statistics. CAMs are at 1/16 of the image (MiT-b1:
# 1/4 .. 1/16), so pseudo masks are coarser; the optional CRF
# (tools/generate_pseudo_labels.py --crf) sharpens their borders.
_base_ = ['./pbip_mit-b1_uni.py']
model = dict(
    data_preprocessor=dict(
        mean=[0.485 * 255, 0.456 * 255, 0.406 * 255],
        std=[0.229 * 255, 0.224 * 255, 0.225 * 255],
        bgr_to_rgb=True),
    backbone=dict(
        _delete_=True,
        type='FoundationViTBackbone',
        arch='uni',
        checkpoint='pretrained/uni/pytorch_model.bin',
        out_indices=(5, 11, 17, 23),
        trainable_blocks=0,
        norm_outputs=True),
    head=dict(in_channels=[1024, 1024, 1024, 1024]))
