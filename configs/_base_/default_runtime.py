# Runtime shared by every mmseg-pbip config: MMSeg's own runtime, plus the
# plugin import (children inherit it, so stock MMSeg tools work) and the
# check that a run either loads pretrained weights or says it does not.
_base_ = ['mmseg::_base_/default_runtime.py']

custom_imports = dict(imports=['mmseg_pbip'], allow_failed_imports=False)
# CPU machines and the gloo backend work too; `--launcher pytorch` on GPUs
# picks nccl through MMEngine when this is changed to 'nccl'.
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='nccl'))
custom_hooks = [dict(type='WeightSourceCheckHook')]
# Training from random weights must be asked for (and is logged loudly).
allow_random_init = False
randomness = dict(seed=0)
# MMSeg keeps these in its schedule files; here they are shared by every run.
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=1000,
        max_keep_ckpts=3, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # draws only with tools/test.py --show-dir; then every image
    visualization=dict(type='SegVisualizationHook', interval=1))
