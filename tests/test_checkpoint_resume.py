"""Runner checkpoints load with torch's safe loading; resume continues."""
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from utils import SEGFORMER_DEMO, tiny_segformer_options

import mmseg_pbip  # noqa: F401
from mmseg_pbip.utils import safe_load


class RecordStartHook(Hook):
    """Record the iteration and weights when training starts."""

    def before_train(self, runner):
        self.start_iter = runner.iter
        self.start_state = {
            k: v.detach().clone()
            for k, v in runner.model.state_dict().items()
        }


def build_runner(demo_root, work_dir, max_iters, resume=False):
    cfg = Config.fromfile(SEGFORMER_DEMO)
    cfg.merge_from_dict(
        tiny_segformer_options(demo_root, work_dir, max_iters=max_iters))
    cfg.resume = resume
    cfg.experiment_name = f'resume{int(resume)}'
    runner = Runner.from_cfg(cfg)
    hook = RecordStartHook()
    runner.register_hook(hook)
    return runner, hook


def test_save_and_resume(demo_root, tmp_path):
    work_dir = str(tmp_path / 'work')
    runner, _ = build_runner(demo_root, work_dir, max_iters=2)
    runner.train()
    ckpt_path = osp.join(work_dir, 'iter_2.pth')
    assert osp.isfile(ckpt_path)
    ckpt = safe_load(ckpt_path)
    assert ckpt['meta']['iter'] == 2
    assert 'message_hub' in ckpt and 'optimizer' in ckpt

    # resume, train 2 more iterations
    runner2, hook = build_runner(demo_root, work_dir, max_iters=4, resume=True)
    runner2.train()
    assert hook.start_iter == 2
    for k, v in ckpt['state_dict'].items():
        assert torch.equal(hook.start_state[k], v), k
    assert runner2.iter == 4
    final = safe_load(osp.join(work_dir, 'iter_4.pth'))
    assert final['meta']['iter'] == 4
    # the resumed run really trained: weights moved from the checkpoint
    moved = [
        not torch.equal(final['state_dict'][k], v)
        for k, v in ckpt['state_dict'].items() if v.is_floating_point()
    ]
    assert any(moved)
    # the message hub's history survived the round trip
    hub = final['message_hub']
    assert 'train/loss' in hub['log_scalars']


def test_checkpoint_needs_the_allow_list(demo_root, tmp_path):
    """Without the allow-list torch refuses MMEngine's checkpoint: the allow-
    list is what makes safe loading work, not a disabled check."""
    work_dir = str(tmp_path / 'work')
    runner, _ = build_runner(demo_root, work_dir, max_iters=2)
    runner.train()
    code = ('import torch, sys\n'
            'try:\n'
            f'    torch.load({osp.join(work_dir, "iter_2.pth")!r}, '
            'weights_only=True)\n'
            'except Exception as e:\n'
            '    print(type(e).__name__, e); sys.exit(3)\n')
    proc = subprocess.run([sys.executable, '-c', code],
                          capture_output=True,
                          text=True)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert 'HistoryBuffer' in proc.stdout or 'numpy' in proc.stdout


def test_load_from_runs_test(demo_root, tmp_path):
    work_dir = str(tmp_path / 'work')
    runner, _ = build_runner(demo_root, work_dir, max_iters=2)
    runner.train()
    cfg = Config.fromfile(SEGFORMER_DEMO)
    cfg.merge_from_dict(tiny_segformer_options(demo_root, str(tmp_path / 't')))
    cfg.load_from = osp.join(work_dir, 'iter_2.pth')
    metrics = Runner.from_cfg(cfg).test()
    assert {'mIoU', 'FwIoU', 'bIoU', 'Dice'} <= set(metrics)


def test_crafted_pickle_is_refused(tmp_path):
    marker = tmp_path / 'pwned'

    class Payload:

        def __reduce__(self):
            return (open, (str(marker), 'w'))

    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'x': Payload()}, path)
    with pytest.raises(ValueError, match='cannot be loaded safely') as e:
        safe_load(path)
    assert path in str(e.value)
    assert not marker.exists()
    with pytest.raises(FileNotFoundError, match='does not exist'):
        safe_load(str(tmp_path / 'missing.pth'))


def test_getattr_is_limited_to_history_buffer_methods():
    import pickle

    from mmengine.logging import HistoryBuffer

    from mmseg_pbip.utils.safe_loading import history_buffer_getattr
    assert history_buffer_getattr(HistoryBuffer, 'mean') is \
        HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError, match='refused'):
        history_buffer_getattr(HistoryBuffer, '__init__')
    with pytest.raises(pickle.UnpicklingError, match='refused'):
        history_buffer_getattr(torch, 'load')


def test_crafted_getattr_payload_is_refused(tmp_path):
    """Getattr on an allowed class reaches nothing but its statistics methods,
    and a direct os.system call never runs."""
    import os

    from mmengine.logging import HistoryBuffer
    marker = tmp_path / 'ran'

    class Reach:

        def __reduce__(self):
            return (getattr, (HistoryBuffer, '__init__'))

    class Call:

        def __reduce__(self):
            return (os.system, (f'touch {marker}', ))

    for payload in (Reach(), Call()):
        path = str(tmp_path / 'evil.pth')
        torch.save({'a': payload}, path)
        with pytest.raises(ValueError, match='cannot be loaded safely'):
            safe_load(path)
    assert not marker.exists()
