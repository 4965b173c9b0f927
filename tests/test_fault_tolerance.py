"""Killed runs resume; checkpoints are never half-written; NaN stops.

Real training subprocesses (tools/train.py) on the tiny PBIP demo config.
"""
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import time

import torch
from mmengine.config import Config
from utils import PBIP_DEMO, REPO, cfg_options, run, tiny_pbip_options

from mmseg_pbip.utils import safe_load

TESTS = osp.dirname(osp.abspath(__file__))


def train_args(demo_root,
               work_dir,
               max_iters,
               interval=2,
               keep=1,
               nan_at=None,
               pause_at=None):
    """tools/train.py on a user config inheriting the PBIP demo config and
    importing the fault injection (custom_imports are read from files);
    ``nan_at``: iteration whose loss is made NaN; ``pause_at``: iteration
    before which the run waits to be killed."""
    os.makedirs(work_dir, exist_ok=True)
    config = osp.join(osp.dirname(work_dir), 'faulty_pbip.py')
    hooks = [dict(h) for h in Config.fromfile(PBIP_DEMO).custom_hooks]
    if nan_at:
        hooks.append(dict(type='PoisonWeightsHook', at_iter=nan_at))
    if pause_at:
        hooks.append(dict(type='PauseHook', at_iter=pause_at))
    with open(config, 'w') as f:
        f.write(f'_base_ = [{PBIP_DEMO!r}]\n'
                "custom_imports = dict(imports=['mmseg_pbip', "
                "'fault_injection'], allow_failed_imports=False)\n"
                f'custom_hooks = {hooks!r}\n')
    opts = tiny_pbip_options(demo_root, work_dir, max_iters)
    opts.update({
        'default_hooks.checkpoint.interval': interval,
        'default_hooks.checkpoint.max_keep_ckpts': keep,
    })
    return ['tools/train.py', config] + cfg_options(opts)


def env(**kw):
    return dict(
        PYTHONPATH=os.pathsep.join(
            [TESTS] + [p for p in [os.environ.get('PYTHONPATH')] if p]),
        **kw)


def last_checkpoint(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def assert_valid_checkpoint(path, iteration):
    ckpt = safe_load(path)
    assert ckpt['meta']['iter'] == iteration
    assert all(
        torch.isfinite(v).all() for v in ckpt['state_dict'].values()
        if v.is_floating_point())


def test_killed_while_writing_a_checkpoint(demo_root, tmp_path):
    """SIGKILL half-way through writing iter_4.pth, with max_keep_ckpts=1:

    iter_2.pth must still exist and be what last_checkpoint names, no truncated
    iter_4.pth may exist, and --resume must finish the run.
    """
    work_dir = str(tmp_path / 'work')
    code, out = run(
        train_args(demo_root, work_dir, 4),
        check=False,
        env=env(MMSEG_PBIP_TEST_KILL_WRITING='iter_4.pth'))
    assert code == -signal.SIGKILL, out[-3000:]
    assert not osp.exists(osp.join(work_dir, 'iter_4.pth'))
    assert last_checkpoint(work_dir) == osp.join(work_dir, 'iter_2.pth')
    assert_valid_checkpoint(osp.join(work_dir, 'iter_2.pth'), 2)

    _, out = run(train_args(demo_root, work_dir, 4) + ['--resume'], env=env())
    assert 'resumed epoch: 0, iter: 2' in out
    assert_valid_checkpoint(osp.join(work_dir, 'iter_4.pth'), 4)
    assert last_checkpoint(work_dir) == osp.join(work_dir, 'iter_4.pth')
    assert not osp.exists(osp.join(work_dir, 'iter_2.pth'))  # keep 1
    assert not [f for f in os.listdir(work_dir) if f.startswith('.tmp')]


def test_sigkill_mid_run_then_resume(demo_root, tmp_path):
    """SIGKILL in the middle of a run (before iteration 5, after iter_4.pth,

    at a point the run signals, so the test never races the run);
    --resume ends with all iterations and a valid final checkpoint.
    """
    work_dir = str(tmp_path / 'work')
    args = train_args(demo_root, work_dir, 10, keep=2, pause_at=5)
    proc = subprocess.Popen(
        [sys.executable] + args,
        cwd=REPO,
        env=dict(os.environ, **env()),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not osp.exists(osp.join(work_dir, 'paused')):
        assert proc.poll() is None, 'training ended before the pause'
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert safe_load(last_checkpoint(work_dir))['meta']['iter'] == 4

    _, out = run(
        train_args(demo_root, work_dir, 10, keep=2) + ['--resume'], env=env())
    assert 'resumed epoch: 0, iter: 4' in out
    assert_valid_checkpoint(osp.join(work_dir, 'iter_10.pth'), 10)
    assert last_checkpoint(work_dir) == osp.join(work_dir, 'iter_10.pth')


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(
        demo_root, tmp_path):
    """Iteration 3's loss is NaN: the run exits non-zero naming the iteration,
    the loss terms and iter_2.pth, which stays the last (and a valid)
    checkpoint; nothing of iteration 3 or later is saved."""
    work_dir = str(tmp_path / 'work')
    code, out = run(
        train_args(demo_root, work_dir, 6, keep=3, nan_at=3),
        check=False,
        env=env())
    assert code != 0
    msg = re.search(r'NonFiniteLossError: (.*)', out).group(1)
    assert msg.startswith('non-finite loss at iteration 3: loss=nan, ')
    assert 'loss_cls=nan' in msg and 'loss_fg=' in msg
    assert f'Last good checkpoint: {work_dir}/iter_2.pth' in msg
    assert sorted(f for f in os.listdir(work_dir) if f.endswith('.pth')) \
        == ['bank.pth', 'iter_2.pth']
    assert last_checkpoint(work_dir) == osp.join(work_dir, 'iter_2.pth')
    assert_valid_checkpoint(osp.join(work_dir, 'iter_2.pth'), 2)
