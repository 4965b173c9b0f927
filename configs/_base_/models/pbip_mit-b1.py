# PBIP stage one with the released code's settings, row by row
# (docs/reproduction.md, "Fidelity"): BGR input normalised with the released
# statistics; MiT-b1 with strides [4, 2, 2, 1] and the NVlabs LayerNorm
# epsilons; SIM head on all 4 stages (unit pixel features . projected
# prototypes, learnable scale 1/0.07); Swin-T + random projection as the
# prototype encoder, fed stretched images without further normalisation;
# BCE per stage weighted (0, 0.1, 1, 1); ImgMatch InfoNCE on the raw stage-4
# subclass maps (threshold 0.5 x the image's maximum, per-channel stretch
# before the binary mask, temperature 0.07), total
# cls + 0.1 * (fg + bg + 0.0005 * mean(cam4)); test CAMs: soft-max merge,
# ReLU, per-class min-max, x label, upsample, fuse 0.3/0.3/0.4, flip x
# {0.9, 1.0, 1.1} TTA, never background. Mixed precision (released: fp16
# autocast on a GPU) is `tools/train.py --amp`; without it runs are fp32.
# Weights (docs/methods.md, "Weights"): convert NVlabs mit_b1.pth with
#   python tools/model_converters/mit2mmseg.py mit_b1.pth \
#       pretrained/mit_b1_mmseg.pth
# and copy microsoft/swin-tiny-patch4-window7-224 to pretrained/ (or give a
# MedCLIP pytorch_model.bin as image_encoder.checkpoint).
# The runtime is a base of this file, not of the configs that use it: PBIP
# adds its image-bank hook to the runtime's `custom_hooks` (below), and
# MMEngine refuses a key that two bases of one config both define. A config
# inheriting this file lists no runtime of its own.
_base_ = ['./histo_data_preprocessor.py', '../cam_runtime.py']
num_classes = 4
model = dict(
    type='PBIPSegmentor',
    data_preprocessor={{_base_.pbip_data_preprocessor}},
    backbone=dict(
        type='NVLabsMixVisionTransformer',
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
        patch_embed_norm_eps=1e-5,
        sr_norm_eps=1e-5,
        init_cfg=dict(
            type='Pretrained', checkpoint='pretrained/mit_b1_mmseg.pth')),
    head=dict(
        type='PrototypeSimHead',
        in_channels=[64, 128, 320, 512],
        num_classes=num_classes,
        prototype_dim=512,
        hidden_ratio=0.5,
        logit_scale=1 / 0.07,
        learnable_scale=True,
        normalize_prototypes=False),
    image_encoder=dict(
        type='MedCLIPVisionEncoder',
        variant='swin',
        checkpoint=None,
        swin_pretrained='pretrained/swin-tiny-patch4-window7-224',
        projection_seed=42,
        normalize=False),
    cls_loss=dict(type='MultiStageClsLoss', stage_weights=(0., 0.1, 1., 1.)),
    match_loss=dict(
        type='ImgMatchLoss',
        threshold=0.5,
        threshold_scope='image',
        cam_scaling='raw',
        minmax_before_mask=True,
        image_space='inputs',
        contrast='infonce',
        normalize_prototypes=False,
        temperature=0.07,
        fg_weight=0.1,
        bg_weight=0.1,
        cam_reg_weight=0.1 * 0.0005),
    match_cams='subclass',
    match_stages=(-1, ),
    train_merge='mean',
    test_merge='max',
    cam_fusion_weights=(0., 0.3, 0.3, 0.4),
    mask_cams_by_label=True,
    white_threshold=None,
    argmax_present_only=False,
    # released test-time CAMs: flip x intensity {0.9, 1.0, 1.1}
    tta_flips=(False, True),
    tta_intensities=(0.9, 1.0, 1.1))
# Released image bank: single-label training patches (at most 50 % glass),
# read as the network reads them (the training pipeline's image loader and
# the model's data_preprocessor: BGR, histology-normalised), randomly flipped
# / rotated (SeededFlipRotate90), stretched to [0, 1] as a whole; spherical
# (cosine) K-means per class with seed 42, K = 3, prototype = the unit-norm
# centre.
# The file is the run's own: <work_dir>/image_bank.pth.
image_bank_hook = dict(
    type='ImageBankHook',
    k_per_class=3,
    max_white_fraction=0.5,
    kmeans='spherical',
    prototype_rule='centroid',
    seed=42,
    input_space='inputs',
    augment=True,
    stretch=True)
# The runtime's hooks, then the image bank (built before the first iteration).
custom_hooks = _base_.custom_hooks + [image_bank_hook]
# Released pseudo labels for stage two: no test-time augmentation, from the
# best-validation checkpoint (tools/generate_pseudo_labels.py).
pseudo_label_tta = False
# Dense CRF refinement of the pseudo labels (optional extra pydensecrf2): off,
# as released; tools/generate_pseudo_labels.py --crf turns it on with the
# defaults of mmseg_pbip.models.utils.DenseCRF, or set the kernels here, e.g.
# dict(iterations=10, gaussian_sxy=3, gaussian_compat=3, bilateral_sxy=80,
#      bilateral_srgb=13, bilateral_compat=10).
pseudo_label_crf = None
