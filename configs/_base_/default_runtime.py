# Runtime shared by every mmseg-pbip config: MMSeg's own runtime, plus the
# plugin import (children inherit it, so stock MMSeg tools work) and the
# check that a run either loads pretrained weights or says it does not.
_base_ = ['mmseg::_base_/default_runtime.py']

custom_imports = dict(imports=['mmseg_pbip'], allow_failed_imports=False)
# Multi-process runs (`--launcher pytorch|slurm`, tools/dist_train.sh): nccl
# between GPUs; tools/train.py switches to gloo on machines without CUDA.
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='nccl'))
# MMEngine's DDP, also for CPU processes. `find_unused_parameters` goes here
# (a top-level `find_unused_parameters` is read only without this dict).
model_wrapper_cfg = dict(
    type='DeviceAgnosticDDP',
    broadcast_buffers=False,
    find_unused_parameters=False)
custom_hooks = [dict(type='WeightSourceCheckHook')]
# Training from random weights must be asked for (and is logged loudly).
allow_random_init = False
randomness = dict(seed=0)
# MMSeg keeps these in its schedule files; here they are shared by every run.
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # written to a temporary name and renamed: a run killed while saving
    # still resumes (`--resume`) from a complete checkpoint; the checkpoint
    # of the best validation mIoU is kept as best_mIoU_iter_N.pth (the
    # released PBIP code makes its pseudo labels from it)
    checkpoint=dict(
        type='AtomicCheckpointHook',
        by_epoch=False,
        interval=1000,
        max_keep_ckpts=3,
        save_last=True,
        save_best='mIoU',
        rule='greater'),
    # stops at the first NaN / inf loss, before it is saved
    non_finite_loss=dict(type='NonFiniteLossHook'),
    # load_from / --resume read with weights_only=True, for this run only
    safe_loading=dict(type='SafeCheckpointLoadingHook'),
    # a checkpoint of other classes / shapes is an error, not a warning
    checkpoint_check=dict(type='CheckpointCompatibilityHook'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # draws only with tools/test.py --show-dir; then every image
    visualization=dict(type='SegVisualizationHook', interval=1))
# `tools/test.py CONFIG CKPT --tta` (with the datasets' `tta_pipeline`):
# MMSeg's SegTTAModel for stage two, mean CAMs for the CAM segmentors
tta_model = dict(type='HistoTTAModel')
