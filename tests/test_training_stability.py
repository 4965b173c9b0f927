"""The released-settings PBIP config at full size trains with finite losses and
gradients from random weights (issue: one step of inf gradients through the
FG/BG images used to write NaN into the weights)."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from utils import REPO

RELEASED = osp.join(REPO, 'configs', 'pbip',
                    'pbip_mit-b1_1xb10-8e_bcss-wsss-224x224.py')
STEPS = 8


class Record(Hook):
    """Losses of every iteration; at every optimiser step, whether all
    gradients were finite (a pre-hook of the optimiser itself)."""

    def __init__(self):
        self.losses, self.steps = [], []

    def before_train(self, runner):
        optimizer = runner.optim_wrapper.optimizer
        params = [p for g in optimizer.param_groups for p in g['params']]

        def check(*_):
            self.steps.append(
                all(
                    torch.isfinite(p.grad).all() for p in params
                    if p.grad is not None))

        optimizer.register_step_pre_hook(check)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        self.losses.append({
            k: float(v.detach())
            for k, v in outputs.items() if k.startswith('loss')
        })


@pytest.mark.slow
def test_released_config_full_size_trains_finite(tmp_path):
    """MiT-b1, Swin-T at 224 px, batch 10, random weights (the released
    initialisation of both), 224 px demo patches: 8 optimiser steps, each with
    finite losses and finite gradients, FG/BG pairs in every step."""
    from synthetic_he import write_demo_dataset
    root = str(tmp_path / 'demo')
    write_demo_dataset(
        root, num_train=10 * STEPS, num_val=2, num_test=2, size=224)
    cfg = Config.fromfile(RELEASED)
    cfg.merge_from_dict({
        'train_dataloader.dataset.data_root': root,
        'val_dataloader.dataset.data_root': root,
        'test_dataloader.dataset.data_root': root,
        'train_dataloader.batch_size': 10,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'allow_random_init': True,
        'model.backbone.init_cfg': None,
        'model.image_encoder.swin_pretrained': None,
        'model.image_encoder.allow_random_init': True,
        'train_cfg.max_epochs': 1,
        'train_cfg.val_interval': 2,  # no validation in one epoch
        'default_hooks.checkpoint': None,
        'randomness.seed': 0,
        'work_dir': str(tmp_path / 'work'),
    })
    runner = Runner.from_cfg(cfg)
    record = Record()
    runner.register_hook(record)
    runner.train()
    assert len(record.losses) == STEPS
    assert record.steps == [True] * STEPS  # every step taken, all finite
    assert runner.optim_wrapper.skipped_steps == 0
    for losses in record.losses:
        assert all(math.isfinite(v) for v in losses.values()), losses
        assert losses['loss_fg'] > 0  # FG/BG pairs were selected
    model = runner.model
    assert all(torch.isfinite(p).all() for p in model.parameters())
