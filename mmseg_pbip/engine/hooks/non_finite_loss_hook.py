"""Stop training at the first NaN or infinite loss."""
import math

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite."""


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise :class:`NonFiniteLossError` when a loss term is not finite.

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
        last = runner.message_hub.get_info('last_ckpt')
        values = ', '.join(f'{k}={v:.4g}' for k, v in terms.items())
        where = ': ' if local else ' on another rank (this rank: '
        msg = (f'non-finite loss at iteration {runner.iter + 1}{where}'
               f'{values}{"" if local else ")"}; training stopped before '
               'saving. ' +
               (f'Last good checkpoint: {last} (resume from it with '
                '--resume after lowering the learning rate or checking the '
                'data with tools/check_dataset.py).'
                if last else 'No checkpoint was saved yet.'))
        runner.logger.error(msg)
        raise NonFiniteLossError(msg)
