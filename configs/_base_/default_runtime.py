# Runtime shared by every mmseg-pbip config: MMSeg's own runtime, plus the
# plugin import (children inherit it, so stock MMSeg tools work) and the
# check that a run either loads pretrained weights or says it does not. As in
# MMSeg, default_hooks come with the schedules (./default_hooks.py). PBIP's
# model bases (./models/pbip_*.py) inherit this file themselves, to add the
# image-bank hook to custom_hooks; their configs list no runtime.
_base_ = ['mmseg::_base_/default_runtime.py']

custom_imports = dict(imports=['mmseg_pbip'], allow_failed_imports=False)
# Multi-process runs (`--launcher pytorch|slurm`, tools/dist_train.sh): nccl
# between GPUs; tools/train.py switches to gloo on machines without CUDA.
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='nccl'))
# MMEngine's DDP. `find_unused_parameters` goes here (a top-level
# `find_unused_parameters` is read only without this dict). Multi-process
# runs without CUDA get DeviceAgnosticDDP from the tools instead.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel',
    broadcast_buffers=False,
    find_unused_parameters=False)
custom_hooks = [dict(type='WeightSourceCheckHook')]
# Training from random weights must be asked for (and is logged loudly).
allow_random_init = False
randomness = dict(seed=0)
# `tools/test.py CONFIG CKPT --tta`: MMSeg's TestTimeAug views, the image as
# it is and flipped left-right, merged as MMSeg's SegTTAModel does (mean
# softmax). The CAM models make their own test-time views; their runtime
# (./cam_runtime.py) gives them one view here.
tta_model = dict(type='HistoTTAModel')
tta_pipeline = [
    dict(type='LoadHistoImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='RandomFlip', prob=0., direction='horizontal'),
                dict(type='RandomFlip', prob=1., direction='horizontal')
            ],
            [dict(type='LoadHistoAnnotations')],
            [dict(type='PackHistoSegInputs')],
        ])
]
