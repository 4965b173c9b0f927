# MMSeg's Mask2Former Swin-T optimiser (AdamW 1e-4, weight decay 0.05,
# gradient clipping at 0.01; backbone lr x 0.1; no decay on norms, position
# and query embeddings) over a 20k-iteration poly schedule, with this
# plugin's hooks.
_base_ = ['../default_hooks.py']
# the norm layers of a Swin-T (depths 2, 2, 6, 2), as MMSeg lists them
swin_depths = [2, 2, 6, 2]
backbone_norm_multi = dict(lr_mult=0.1, decay_mult=0.0)
backbone_embed_multi = dict(lr_mult=0.1, decay_mult=0.0)
embed_multi = dict(lr_mult=1.0, decay_mult=0.0)
custom_keys = {
    'backbone': dict(lr_mult=0.1, decay_mult=1.0),
    'backbone.patch_embed.norm': backbone_norm_multi,
    'backbone.norm': backbone_norm_multi,
    'absolute_pos_embed': backbone_embed_multi,
    'relative_position_bias_table': backbone_embed_multi,
    'query_embed': embed_multi,
    'query_feat': embed_multi,
    'level_embed': embed_multi
}
custom_keys.update({
    f'backbone.stages.{stage}.blocks.{block}.norm':
    backbone_norm_multi
    for stage, num_blocks in enumerate(swin_depths)
    for block in range(num_blocks)
})
custom_keys.update({
    f'backbone.stages.{stage}.downsample.norm':
    backbone_norm_multi
    for stage in range(len(swin_depths) - 1)
})
# MMEngine's OptimWrapper that skips (and counts) steps whose gradients are
# not finite, and stops after max_consecutive_skips in a row
optim_wrapper = dict(
    type='FiniteGradOptimWrapper',
    optimizer=dict(
        type='AdamW',
        lr=0.0001,
        weight_decay=0.05,
        eps=1e-8,
        betas=(0.9, 0.999)),
    clip_grad=dict(max_norm=0.01, norm_type=2),
    paramwise_cfg=dict(custom_keys=custom_keys, norm_decay_mult=0.0))
# No `end`: the Runner takes the loop's max_iters.
param_scheduler = [
    dict(type='PolyLR', eta_min=0, power=0.9, begin=0, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=20000, val_interval=2000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(checkpoint=dict(interval=2000))
# Several processes: the batch is batch_size x processes; linear
# learning-rate scaling from the stage-two batch of 8 is opt-in.
auto_scale_lr = dict(enable=False, base_batch_size=8)
