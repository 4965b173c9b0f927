# PSCL stage two's model: MMSeg's Mask2Former with a Swin-T
# (mmseg::mask2former/mask2former_swin-t_8xb2-160k_ade20k-512x512.py; mmdet,
# the 'pscl' extra) for 4 tissue classes + background (4), with histology
# normalisation. The Swin starts from the PSCL stage-one checkpoint
# (`stage1_checkpoint`, its `backbone.*` weights; default: that of
# configs/pscl/pscl_swin-t_1xb10-5e_bcss-wsss-224x224.py) and the whole model
# trains end to end. MMSeg ships Mask2Former only as a whole config (model,
# ADE20K data, schedule, runtime) and MMEngine refuses a key that two bases
# both define, so the model is stated here, as MMSeg's own
# _base_/models/*.py files state theirs; the data, schedule and hooks come
# from the other bases. Like PBIP's model bases, this file inherits the
# runtime itself, to import the mmdet components.
_base_ = ['../default_runtime.py', './histo_data_preprocessor.py']
# mmdet's models (the 'pscl' extra), or an error naming the extra
custom_imports = dict(
    imports=['mmseg_pbip.models.mmdet_components', 'mmseg_pbip'],
    allow_failed_imports=False)
num_classes = 5
stage1_checkpoint = ('work_dirs/pscl_swin-t_1xb10-5e_bcss-wsss-224x224/'
                     'epoch_5.pth')
# MMSeg's Mask2Former settings from here on, but for the classes, the
# normalisation and the backbone's weights
data_preprocessor = dict(
    _base_.histo_data_preprocessor, test_cfg=dict(size_divisor=32))
ffn_act = dict(type='ReLU', inplace=True)
attn_cfg = dict(  # MultiheadAttention
    embed_dims=256,
    num_heads=8,
    attn_drop=0.0,
    proj_drop=0.0,
    dropout_layer=None,
    batch_first=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='SwinTransformer',
        embed_dims=96,
        depths=[2, 2, 6, 2],
        num_heads=[3, 6, 12, 24],
        window_size=7,
        mlp_ratio=4,
        qkv_bias=True,
        qk_scale=None,
        drop_rate=0.,
        attn_drop_rate=0.,
        drop_path_rate=0.3,
        patch_norm=True,
        out_indices=(0, 1, 2, 3),
        with_cp=False,
        frozen_stages=-1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint=stage1_checkpoint,
            prefix='backbone.')),
    decode_head=dict(
        type='Mask2FormerHead',
        in_channels=[96, 192, 384, 768],
        strides=[4, 8, 16, 32],
        feat_channels=256,
        out_channels=256,
        num_classes=num_classes,
        num_queries=100,
        num_transformer_feat_level=3,
        align_corners=False,
        pixel_decoder=dict(
            type='mmdet.MSDeformAttnPixelDecoder',
            num_outs=3,
            norm_cfg=dict(type='GN', num_groups=32),
            act_cfg=dict(type='ReLU'),
            encoder=dict(  # DeformableDetrTransformerEncoder
                num_layers=6,
                layer_cfg=dict(
                    self_attn_cfg=dict(  # MultiScaleDeformableAttention
                        embed_dims=256,
                        num_heads=8,
                        num_levels=3,
                        num_points=4,
                        im2col_step=64,
                        dropout=0.0,
                        batch_first=True,
                        norm_cfg=None,
                        init_cfg=None),
                    ffn_cfg=dict(
                        embed_dims=256,
                        feedforward_channels=1024,
                        num_fcs=2,
                        ffn_drop=0.0,
                        act_cfg=ffn_act)),
                init_cfg=None),
            positional_encoding=dict(num_feats=128, normalize=True),
            init_cfg=None),
        enforce_decoder_input_project=False,
        positional_encoding=dict(num_feats=128, normalize=True),
        transformer_decoder=dict(  # Mask2FormerTransformerDecoder
            return_intermediate=True,
            num_layers=9,
            layer_cfg=dict(
                self_attn_cfg=attn_cfg,
                cross_attn_cfg=attn_cfg,
                ffn_cfg=dict(
                    embed_dims=256,
                    feedforward_channels=2048,
                    num_fcs=2,
                    act_cfg=ffn_act,
                    ffn_drop=0.0,
                    dropout_layer=None,
                    add_identity=True)),
            init_cfg=None),
        # the last class is "no object"
        loss_cls=dict(
            type='mmdet.CrossEntropyLoss',
            use_sigmoid=False,
            loss_weight=2.0,
            reduction='mean',
            class_weight=[1.0] * num_classes + [0.1]),
        loss_mask=dict(
            type='mmdet.CrossEntropyLoss',
            use_sigmoid=True,
            reduction='mean',
            loss_weight=5.0),
        loss_dice=dict(
            type='mmdet.DiceLoss',
            use_sigmoid=True,
            activate=True,
            reduction='mean',
            naive_dice=True,
            eps=1.0,
            loss_weight=5.0),
        train_cfg=dict(
            num_points=12544,
            oversample_ratio=3.0,
            importance_sample_ratio=0.75,
            assigner=dict(
                type='mmdet.HungarianAssigner',
                match_costs=[
                    dict(type='mmdet.ClassificationCost', weight=2.0),
                    dict(
                        type='mmdet.CrossEntropyLossCost',
                        weight=5.0,
                        use_sigmoid=True),
                    dict(
                        type='mmdet.DiceCost',
                        weight=5.0,
                        pred_act=True,
                        eps=1.0)
                ]),
            sampler=dict(type='mmdet.MaskPseudoSampler'))),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
