"""Skip optimiser steps whose gradients are not finite (shared logic of the
project's optimiser wrappers)."""
import logging
import math
from typing import List

import torch
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper


class NonFiniteGradientError(FloatingPointError):
    """Too many optimiser steps in a row had non-finite gradients."""


class NonFiniteGradGuard:
    """Check the gradients before every optimiser step; skip a bad step.

    Mixed into MMEngine's ``OptimWrapper`` / ``AmpOptimWrapper`` (see
    :class:`FiniteGradOptimWrapper`). Just before the optimiser would step,
    the largest absolute gradient of all parameters is taken (one reduction;
    NaN and inf both make it non-finite). When it is not finite:

    - the step is skipped: no parameter, no optimiser state (AdamW's moments
      and step count) and no weight decay is touched, and the gradients are
      zeroed as after any step; the learning-rate schedule goes on, as with
      a skipped step of MMEngine's ``AmpOptimWrapper``;
    - a warning names the iteration, the parameters whose gradients are not
      finite, and the counts (consecutive, and in this process);
    - after ``max_consecutive_skips`` skipped steps in a row,
      :class:`NonFiniteGradientError` stops the run, naming the last
      checkpoint saved (nothing of the failed steps has reached it).

    In multi-process runs the check reads the gradients after DDP's
    all-reduce, so every rank takes the same decision.

    Parameter names come from the model that MMEngine's Runner passes to
    ``initialize_count_status`` before training; without it, a parameter is
    named by its position and shape.
    """

    def __init__(self,
                 *args,
                 max_consecutive_skips: int = 20,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if max_consecutive_skips < 1:
            raise ValueError('max_consecutive_skips must be >= 1, got '
                             f'{max_consecutive_skips}')
        self.max_consecutive_skips = max_consecutive_skips
        self.skipped_steps = 0
        self.consecutive_skips = 0
        self.last_step_skipped = False
        self._param_names = {}

    def initialize_count_status(self, model: torch.nn.Module, init_counts: int,
                                max_counts: int) -> None:
        """MMEngine's count set-up; also keeps the parameters' names."""
        super().initialize_count_status(model, init_counts, max_counts)
        module = model.module if is_model_wrapper(model) else model
        self._param_names = {id(p): n for n, p in module.named_parameters()}

    def non_finite_params(self) -> List[str]:
        """Names of the parameters whose gradient has a NaN or an inf."""
        params = [
            p for group in self.optimizer.param_groups for p in group['params']
            if p.grad is not None
        ]
        if not params:
            return []
        peak = torch.nn.utils.get_total_norm([p.grad for p in params],
                                             norm_type=math.inf)
        if torch.isfinite(peak):
            return []
        return [
            self._param_names.get(id(p), f'#{i} {tuple(p.shape)}')
            for i, p in enumerate(params) if not torch.isfinite(p.grad).all()
        ]

    def check_gradients(self) -> bool:
        """True when the step may go ahead; else count, warn (or raise).

        Raises:
            NonFiniteGradientError: the ``max_consecutive_skips``-th
                non-finite step in a row.
        """
        bad = self.non_finite_params()
        self.last_step_skipped = bool(bad)
        if not bad:
            self.consecutive_skips = 0
            return True
        self.skipped_steps += 1
        self.consecutive_skips += 1
        hub = self.message_hub
        names = ', '.join(
            bad[:8]) + (f' and {len(bad) - 8} more' if len(bad) > 8 else '')
        msg = (
            f'non-finite gradients at iteration {hub.get_info("iter", -1) + 1}'
            f' in {len(bad)} parameter(s): {names}')
        if self.consecutive_skips >= self.max_consecutive_skips:
            last = hub.get_info('last_ckpt')
            msg += (f'; {self.consecutive_skips} steps in a row skipped '
                    f'(max_consecutive_skips={self.max_consecutive_skips}), '
                    'training stopped. ' +
                    (f'Last good checkpoint: {last} (resume from it with '
                     '--resume after lowering the learning rate or checking '
                     'the data with tools/check_dataset.py).'
                     if last else 'No checkpoint was saved yet.'))
            print_log(msg, logger='current', level=logging.ERROR)
            raise NonFiniteGradientError(msg)
        print_log(
            f'{msg}; optimiser step skipped (weights and optimiser state '
            f'unchanged): {self.consecutive_skips} in a row (the run stops at '
            f'{self.max_consecutive_skips}), {self.skipped_steps} since the '
            'process started',
            logger='current',
            level=logging.WARNING)
        return False
