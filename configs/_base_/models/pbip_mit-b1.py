# PBIP stage one (released-code settings, REFERENCE section 1):
# MiT-b1 with strides [4, 2, 2, 1], SIM head on all 4 stages, MedCLIP-Swin-T
# prototype encoder, BCE per stage weighted (0, 0.1, 1, 1), ImgMatch loss
# with threshold 0.5 x max, temperature 0.07, total
# cls + 0.1 * (fg + bg + 0.0005 * mean(cam)).
# Weights (see README "Weights"): convert NVlabs mit_b1.pth with
#   python tools/model_converters/mit2mmseg.py mit_b1.pth pretrained/mit_b1_mmseg.pth
# and copy microsoft/swin-tiny-patch4-window7-224 to pretrained/ (or give a
# MedCLIP pytorch_model.bin as image_encoder.checkpoint).
_base_ = ['./histo_data_preprocessor.py']
num_classes = 4
model = dict(
    type='PBIPSegmentor',
    data_preprocessor={{_base_.histo_data_preprocessor}},
    backbone=dict(
        type='MixVisionTransformer',
        in_channels=3,
        embed_dims=64,
        num_stages=4,
        num_layers=[2, 2, 2, 2],
        num_heads=[1, 2, 5, 8],
        patch_sizes=[7, 3, 3, 3],
        strides=[4, 2, 2, 1],
        sr_ratios=[8, 4, 2, 1],
        out_indices=(0, 1, 2, 3),
        mlp_ratio=4,
        qkv_bias=True,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained', checkpoint='pretrained/mit_b1_mmseg.pth')),
    head=dict(
        type='PrototypeSimHead',
        in_channels=[64, 128, 320, 512],
        num_classes=num_classes,
        prototype_dim=512,
        hidden_ratio=0.5,
        logit_scale=1 / 0.07,
        learnable_scale=True),
    image_encoder=dict(
        type='MedCLIPVisionEncoder',
        variant='swin',
        checkpoint=None,
        swin_pretrained='pretrained/swin-tiny-patch4-window7-224',
        projection_seed=42),
    cls_loss=dict(type='MultiStageClsLoss', stage_weights=(0., 0.1, 1., 1.)),
    match_loss=dict(
        type='ImgMatchLoss',
        threshold=0.5,
        temperature=0.07,
        fg_weight=0.1,
        bg_weight=0.1,
        cam_reg_weight=0.1 * 0.0005),
    train_merge='mean',
    test_merge='max',
    cam_fusion_weights=(0., 0.3, 0.3, 0.4),
    mask_cams_by_label=True,
    white_threshold=200.,
    # released test-time CAMs: flip x intensity {0.9, 1.0, 1.1}
    tta_flips=(False, True),
    tta_intensities=(0.9, 1.0, 1.1))
