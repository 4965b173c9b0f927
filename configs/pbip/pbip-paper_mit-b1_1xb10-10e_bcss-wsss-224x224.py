# PBIP on BCSS-WSSS following the paper (CVPR 2025, sections 3.2-4.1)
# wherever it is explicit:
# - eq. 2: plain cosine of pixel features and projected prototypes, mean
#   over the K subclasses; stages 1-3 (i = 1..3), stage 4 unused;
# - eq. 3-5: M' = sum of the upsampled class maps of stages 1-3,
#   tau = 0.15 x max(M), X_FG = b M X, X_BG = (1 - b)(1 - M) X;
# - eq. 6-13: alpha = 1 (BCE of stages 1-3, weight 1 each), beta = 0.5,
#   theta = (1, 0.5), temperature 1, sums / means of similarities;
# - section 3.2: prototype = mean of the N_K = 100 images nearest each
#   K-means centre (cosine K-means, eq. 1), K = 3;
# - section 4.1: AdamW lr 1e-5, weight decay 0.003, 10 epochs, batch 10.
# Where the paper is silent, this config chooses (one line each):
# - M is ReLU(M') divided by its maximum over the image's classes and pixels
#   (eq. 5 needs M in [0, 1]); max(M) of eq. 4 is taken over the whole image;
# - similarities are cosines (unit image features and prototypes);
# - s_BF of eq. 11 (undefined) is the mean over the class's own prototypes;
#   the FG/BG terms are averaged over the (image, class) pairs;
# - X is the RGB image in [0, 1]; the encoder applies its own mean/std, for
#   the bank patches (RGB, no augmentation) and the FG/BG images alike;
# - the FG/BG features are compared in the encoder's space (the paper's
#   "same MLP" projection of them is not specified further);
# - test CAMs: class maps by mean, fused with equal weights of stages 1-3,
#   no test-time augmentation; otherwise the released pipeline (input,
#   CAM normalisation, evaluation, best-validation checkpoint).
_base_ = ['./pbip_mit-b1_1xb10-8e_bcss-wsss-224x224.py']
model = dict(
    head=dict(
        logit_scale=1.0, learnable_scale=False, normalize_prototypes=True),
    image_encoder=dict(normalize=True),
    cls_loss=dict(stage_weights=(1., 1., 1., 0.)),
    match_loss=dict(
        threshold=0.15,
        cam_scaling='relu_max',
        minmax_before_mask=False,
        image_space='rgb01',
        contrast='paper',
        normalize_prototypes=True,
        temperature=1.0,
        fg_weight=0.5 * 1.0,
        bg_weight=0.5 * 0.5,
        cam_reg_weight=0.),
    match_cams='class',
    match_stages=(0, 1, 2),
    test_merge='mean',
    cam_fusion_weights=(1., 1., 1., 0.),
    tta_flips=(False, ),
    tta_intensities=(1.0, ))
# The paper's image bank (section 3.2): the mean of the N_K = 100 patches
# nearest each K-means centre, RGB in [0, 1], no augmentation.
custom_hooks = _base_.custom_hooks[:-1] + [
    dict(
        _base_.image_bank_hook,
        n_per_cluster=100,
        prototype_rule='nearest_mean',
        input_space='rgb01',
        augment=False,
        stretch=False)
]
optim_wrapper = dict(optimizer=dict(lr=1e-5, weight_decay=0.003))
train_cfg = dict(max_epochs=10)
