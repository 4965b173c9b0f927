"""Poly learning-rate decay that reaches its floor after the last step."""
from mmengine.optim.scheduler import PolyLR
from mmseg.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class ExclusiveEndPolyLR(PolyLR):
    """:class:`mmengine.optim.PolyLR` over ``T = end - begin`` steps.

    Step ``t`` (from ``begin``) runs at::

        lr_t = eta_min + (lr_0 - eta_min) * (1 - (t - begin) / T) ** power

    so ``eta_min`` would be reached at ``end``, one step after the last
    scheduled one: :class:`torch.optim.lr_scheduler.PolynomialLR`'s
    convention and the released PBIP training loop's
    (``lr_0 * (1 - t / max_iters) ** power``). MMEngine's ``PolyLR`` divides
    by ``end - begin - 1`` instead and reaches ``eta_min`` at the last step.

    Leave ``end`` out of the config: the Runner sets it to the train loop's
    ``max_iters`` (``by_epoch=False``) or ``max_epochs`` (with
    ``by_epoch=True, convert_to_iter_based=True``, then ``max_epochs x``
    iterations per epoch), so a child config changes only the loop's length.

    Args:
        *args: Passed to :class:`mmengine.optim.PolyLR` (``optimizer``,
            ``eta_min``, ``power``, ``begin``, ``end``, ``by_epoch``, ...).
        **kwargs: Passed to :class:`mmengine.optim.PolyLR`.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # the first value (lr_0) is set in __init__ without the step count;
        # PolyParamScheduler._get_value reads total_iters (pinned in
        # tests/test_mmengine_overrides.py)
        self.total_iters = self.end - self.begin
