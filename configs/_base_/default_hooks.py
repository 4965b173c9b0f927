# Hooks of every mmseg-pbip run. The schedules inherit them (MMSeg keeps
# default_hooks with its schedules) and set how often checkpoints are saved.
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # written to a temporary name and renamed: a run killed while saving
    # still resumes (`--resume`) from a complete checkpoint; the checkpoint
    # of the best validation mIoU is kept as best_mIoU_*.pth (the released
    # PBIP code makes its pseudo labels from it)
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
