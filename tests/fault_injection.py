"""Faults for the fault-tolerance tests; training subprocesses import this
module through ``custom_imports`` (tests/ on PYTHONPATH).

- ``MMSEG_PBIP_TEST_KILL_WRITING=<suffix>``: when a checkpoint file whose
  name ends with ``<suffix>`` is written, half of it reaches the disk and the
  process is SIGKILLed, as a crash in the middle of ``torch.save`` would.
- ``PoisonWeightsHook``: fills the model's first trainable weight with NaN
  before iteration ``at_iter`` (1-based), so that iteration's loss is NaN.
- ``PauseHook``: before iteration ``at_iter`` (1-based) writes
  ``<work_dir>/paused`` and waits to be killed, so a test kills the run at
  a known point between checkpoints.
"""
import os
import os.path as osp
import signal
import time

import torch
from mmengine.fileio import LocalBackend
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

KILL_WRITING = os.environ.get('MMSEG_PBIP_TEST_KILL_WRITING')

if KILL_WRITING:
    _put = LocalBackend.put

    def _put_then_die(self, obj, filepath):
        if str(filepath).endswith(KILL_WRITING):
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
                f.flush()
                os.fsync(f.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
        return _put(self, obj, filepath)

    LocalBackend.put = _put_then_die


@HOOKS.register_module()
class PoisonWeightsHook(Hook):
    """Make iteration ``at_iter``'s loss NaN."""

    def __init__(self, at_iter: int) -> None:
        self.at_iter = at_iter

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 != self.at_iter:
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        param = next(p for p in model.parameters() if p.requires_grad)
        with torch.no_grad():
            param.fill_(float('nan'))


@HOOKS.register_module()
class PauseHook(Hook):
    """Stop before iteration ``at_iter`` until the process is killed."""

    def __init__(self, at_iter: int, seconds: float = 600.) -> None:
        self.at_iter = at_iter
        self.seconds = seconds

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 != self.at_iter:
            return
        with open(osp.join(runner.work_dir, 'paused'), 'w') as f:
            f.write(str(runner.iter))
        time.sleep(self.seconds)
