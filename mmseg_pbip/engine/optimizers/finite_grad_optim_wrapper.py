"""MMEngine's OptimWrapper that never steps on non-finite gradients."""
from mmengine.optim import OptimWrapper
from mmseg.registry import OPTIM_WRAPPERS

from .non_finite_grad_guard import NonFiniteGradGuard


@OPTIM_WRAPPERS.register_module()
class FiniteGradOptimWrapper(NonFiniteGradGuard, OptimWrapper):
    """:class:`mmengine.optim.OptimWrapper` with a finite-gradient check.

    Before each optimiser step (after any gradient accumulation, before
    gradient clipping) the gradients are checked; a step with a NaN or inf
    gradient is skipped, logged with the iteration and the parameters
    concerned, and the run stops after ``max_consecutive_skips`` such steps
    in a row (see :class:`NonFiniteGradGuard`). Steps with finite gradients
    are exactly MMEngine's. ``tools/train.py --amp`` switches it to
    :class:`FiniteGradAmpOptimWrapper`.

    Args:
        *args: Passed to :class:`mmengine.optim.OptimWrapper` (``optimizer``,
            ``accumulative_counts``, ``clip_grad``).
        max_consecutive_skips (int): Skipped steps in a row that stop the
            run. Defaults to 20.
        **kwargs: Passed to :class:`mmengine.optim.OptimWrapper`.
    """

    def step(self, **kwargs) -> None:
        """``OptimWrapper.step`` when the gradients are finite; else skip.

        Args:
            **kwargs: Passed to :meth:`torch.optim.Optimizer.step`.
        """
        if self.check_gradients():
            super().step(**kwargs)
