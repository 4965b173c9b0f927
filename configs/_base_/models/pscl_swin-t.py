# PSCL stage one: Swin-T (ImageNet weights from a local file) + CAM classifier
# on the last stage, L = L_MLSM + lambda_1 * L_PSCL (lambda_1 = loss_weight).
# Weights: MMSeg's Swin-T ImageNet checkpoint (swin_tiny_patch4_window7_224
# converted with MMSeg's tools/model_converters/swin2mmseg.py) at
# pretrained/swin_tiny_patch4_window7_224_mmseg.pth.
# The runtime is a base of this file (as for PBIP): the CAM runtime's
# one-view `tta_pipeline`; a config inheriting this file lists no runtime.
_base_ = ['./histo_data_preprocessor.py', '../cam_runtime.py']
num_classes = 4
model = dict(
    type='PSCLSegmentor',
    data_preprocessor={{_base_.histo_data_preprocessor}},
    backbone=dict(
        type='SwinTransformer',
        pretrain_img_size=224,
        embed_dims=96,
        patch_size=4,
        window_size=7,
        mlp_ratio=4,
        depths=[2, 2, 6, 2],
        num_heads=[3, 6, 12, 24],
        strides=(4, 2, 2, 2),
        # the CAM head reads the last stage only; the other stages' output
        # norms would be parameters without gradients (DDP refuses them)
        out_indices=(3, ),
        qkv_bias=True,
        drop_path_rate=0.2,
        patch_norm=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='pretrained/swin_tiny_patch4_window7_224_mmseg.pth')),
    head=dict(type='CAMClsHead', in_channels=768, num_classes=num_classes),
    pscl_loss=dict(
        type='PSCLLoss',
        in_channels=768,
        proj_channels=128,
        bg_score=0.3,
        conf_threshold=0.5,
        temperature=0.1,
        max_samples=1024,
        loss_weight=0.1),
    bg_score=0.3,
    mask_cams_by_label=True,
    white_threshold=200.,
    tta_flips=(False, True),
    tta_intensities=(1.0, ))
# Pseudo labels for stage two use the test-time flips above.
pseudo_label_tta = True
# Dense CRF refinement of the pseudo labels (optional extra pydensecrf2): off
# by default; tools/generate_pseudo_labels.py --crf turns it on with the
# defaults of mmseg_pbip.models.utils.DenseCRF, or set the kernels here, e.g.
# dict(iterations=10, gaussian_sxy=3, gaussian_compat=3, bilateral_sxy=80,
#      bilateral_srgb=13, bilateral_compat=10).
pseudo_label_crf = None
