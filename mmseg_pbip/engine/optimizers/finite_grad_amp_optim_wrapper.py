"""MMEngine's AmpOptimWrapper that checks gradients before each step."""
from mmengine.optim import AmpOptimWrapper
from mmseg.registry import OPTIM_WRAPPERS

from .non_finite_grad_guard import NonFiniteGradGuard


@OPTIM_WRAPPERS.register_module()
class FiniteGradAmpOptimWrapper(NonFiniteGradGuard, AmpOptimWrapper):
    """:class:`mmengine.optim.AmpOptimWrapper` with the finite-gradient check.

    What ``tools/train.py --amp`` makes of :class:`FiniteGradOptimWrapper`.
    The gradients are unscaled first, then checked (see
    :class:`NonFiniteGradGuard`): a step with a NaN or inf gradient is
    skipped, logged and counted, and the loss scaler backs off as it does
    for any overflow. Unlike the scaler's own silent skip, repeated skips
    stop the run after ``max_consecutive_skips`` (so keep it above the few
    overflows a dynamic loss scale has while it settles). Steps with finite
    gradients are exactly MMEngine's.

    Args:
        *args: Passed to :class:`mmengine.optim.AmpOptimWrapper`.
        max_consecutive_skips (int): Skipped steps in a row that stop the
            run. Defaults to 20.
        **kwargs: Passed to :class:`mmengine.optim.AmpOptimWrapper`
            (``loss_scale``, ``dtype``, ...).
    """

    def step(self, **kwargs) -> None:
        """Unscale, check, then clip and step as ``AmpOptimWrapper.step``
        (restated; ``tests/test_mmengine_overrides.py`` pins MMEngine's).

        Args:
            **kwargs: Passed to :meth:`torch.optim.Optimizer.step`.
        """
        self.loss_scaler.unscale_(self.optimizer)
        if self.check_gradients():
            if self.clip_grad_kwargs:
                self._clip_grad()
            # the scaler skips no step here: its gradients are finite
            self.loss_scaler.step(self.optimizer, **kwargs)
        self.loss_scaler.update(self._scale_update_param)
