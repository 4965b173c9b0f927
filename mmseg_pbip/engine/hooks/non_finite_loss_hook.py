"""Stop training at a NaN or infinite loss that reached the weights."""
import math
from itertools import chain
from typing import List

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

from ..optimizers import NonFiniteGradGuard


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite."""


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise :class:`NonFiniteLossError` when a loss term is not finite and the
    optimiser stepped on it.

    A non-finite loss has non-finite gradients, so the project's optimiser
    wrappers (:class:`FiniteGradOptimWrapper`, the default of every
    schedule) skip that step (also when gradients are accumulated over
    several iterations), count it, and stop the run after
    ``max_consecutive_skips`` in a row. With such a wrapper the hook stops
    the run only when the model's own state is not finite (a parameter, or
    a buffer such as BatchNorm's running statistics, which the forward pass
    updates without the optimiser), since skipping steps cannot recover
    from that; otherwise it logs the loss terms and training goes on. With
    any other wrapper (MMEngine's ``OptimWrapper`` in a user's config) the
    step has already been taken, and the hook stops the run.

    Runs after each training iteration, before the checkpoint and logger
    hooks (priority ``ABOVE_NORMAL``), so the poisoned weights are never
    saved: the last checkpoint stays the last good one. The message names
    the iteration, every loss term with its value and that checkpoint. In
    multi-process runs the ranks agree (all-reduce of a flag) so that all
    stop together instead of waiting on each other.

    mmdet's ``CheckInvalidLossHook`` is not reused: it checks the total
    loss every ``interval`` iterations (50 by default) at normal priority,
    so a checkpoint of poisoned weights can be written before it looks, it
    asserts without naming the terms, and each rank decides alone.
    """
    priority = 'ABOVE_NORMAL'

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        terms = {
            k: float(v.detach() if isinstance(v, torch.Tensor) else v)
            for k, v in (outputs or {}).items()
            if 'loss' in k and isinstance(v, (torch.Tensor, float, int))
        }
        local = any(not math.isfinite(v) for v in terms.values())
        bad = torch.tensor(float(local))
        all_reduce(bad)  # no-op in single-process runs
        if not bad.item():
            return
        values = ', '.join(f'{k}={v:.4g}' for k, v in terms.items())
        where = ': ' if local else ' on another rank (this rank: '
        msg = (f'non-finite loss at iteration {runner.iter + 1}{where}'
               f'{values}{"" if local else ")"}')
        if isinstance(runner.optim_wrapper, NonFiniteGradGuard):
            state = non_finite_state(runner.model)
            poisoned = torch.tensor(float(bool(state)))
            all_reduce(poisoned)
            if not poisoned.item():  # its step was skipped: nothing lost
                runner.logger.warning(msg)
                return
            msg += ('; the model state is not finite (' +
                    (', '.join(state[:8]) if state else 'on another rank') +
                    '), which skipping steps cannot repair')
        last = runner.message_hub.get_info('last_ckpt')
        msg += ('; training stopped before saving. ' +
                (f'Last good checkpoint: {last} (resume from it with '
                 '--resume after lowering the learning rate or checking the '
                 'data with tools/check_dataset.py).'
                 if last else 'No checkpoint was saved yet.'))
        runner.logger.error(msg)
        raise NonFiniteLossError(msg)


def non_finite_state(model: torch.nn.Module) -> List[str]:
    """Names of the model's floating-point parameters and buffers that hold a
    NaN or an inf."""
    module = model.module if is_model_wrapper(model) else model
    return [
        name
        for name, t in chain(module.named_parameters(), module.named_buffers())
        if t.is_floating_point() and not torch.isfinite(t).all()
    ]
