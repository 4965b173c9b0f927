"""Faults for the fault-tolerance tests; training subprocesses import this
module through ``custom_imports`` (tests/ on PYTHONPATH).

- ``MMSEG_PBIP_TEST_KILL_WRITING=<suffix>``: when a checkpoint file whose
  name ends with ``<suffix>`` is written, half of it reaches the disk and the
  process is SIGKILLed, as a crash in the middle of ``torch.save`` would.
- ``PoisonWeightsHook``: fills the model's first trainable weight with NaN
  before iteration ``at_iter`` (1-based), so that iteration's loss is NaN.
- ``InfGradientHook``: at iterations ``at_iters`` (1-based) the gradient
  reaching the first trainable weight is replaced by inf in the backward
  pass (the loss stays finite), as a numerical overflow would.
- ``NaNInputHook``: at iteration ``at_iter`` (1-based) the backbone's input
  is multiplied by NaN, so that iteration's loss and gradients are NaN while
  the weights stay finite, as a corrupt batch would.
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


def unwrapped(runner):
    return runner.model.module if is_model_wrapper(
        runner.model) else runner.model


@HOOKS.register_module()
class PoisonWeightsHook(Hook):
    """Make iteration ``at_iter``'s loss NaN."""

    def __init__(self, at_iter: int) -> None:
        self.at_iter = at_iter

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 != self.at_iter:
            return
        param = next(
            p for p in unwrapped(runner).parameters() if p.requires_grad)
        with torch.no_grad():
            param.fill_(float('nan'))


class IterationFault(Hook):
    """Installs ``fault(runner)`` (which returns a removable handle) before the
    iterations ``at_iters`` (1-based) and removes it after each."""

    def __init__(self, at_iters) -> None:
        self.at_iters = set(at_iters)
        self.handle = None

    def fault(self, runner):
        raise NotImplementedError

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 in self.at_iters:
            self.handle = self.fault(runner)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if self.handle is not None:
            self.handle.remove()
            self.handle = None


@HOOKS.register_module()
class InfGradientHook(IterationFault):
    """Make the first trainable weight's gradient inf at ``at_iters``."""

    def fault(self, runner):
        param = next(
            p for p in unwrapped(runner).parameters() if p.requires_grad)
        return param.register_hook(lambda g: torch.full_like(g, float('inf')))


@HOOKS.register_module()
class NaNInputHook(IterationFault):
    """Make iteration ``at_iter``'s backbone input NaN."""

    def __init__(self, at_iter: int) -> None:
        super().__init__(at_iters=[at_iter])

    def fault(self, runner):
        return unwrapped(runner).backbone.register_forward_pre_hook(
            lambda module, args: (args[0] * float('nan'), ) + args[1:])


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
