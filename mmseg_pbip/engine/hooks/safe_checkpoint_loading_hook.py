"""Safe checkpoint loading for the runs of this plugin's configs only."""
from mmengine.hooks import Hook
from mmengine.runner import CheckpointLoader
from mmseg.registry import HOOKS

from ...utils import register_safe_checkpoint_loader


@HOOKS.register_module()
class SafeCheckpointLoadingHook(Hook):
    """Load this run's local checkpoints with ``weights_only=True``.

    MMEngine's local loader calls ``torch.load`` without ``weights_only``,
    which the ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` environment variable turns
    into full unpickling (code in a checkpoint would run). From
    ``before_run`` (before ``load_from``/``--resume`` are loaded) to
    ``after_run`` this hook routes MMEngine's local scheme to
    :func:`mmseg_pbip.utils.load_local_checkpoint`, which always passes
    ``weights_only=True`` and names the file in its errors; then it puts
    MMEngine's loader back. Importing ``mmseg_pbip`` changes no loader, so
    other OpenMMLab codebases in the same process keep theirs; the
    schedules' shared hooks (``configs/_base_/default_hooks.py``) enable
    it. A run
    that raises never reaches ``after_run``; the safe loader then stays in
    place for the rest of that process (safe, not MMEngine's).

    MMEngine's loading takes no ``weights_only``: the loader is swapped with
    the public ``CheckpointLoader.register_scheme``; the one it restores is
    read from the private ``CheckpointLoader._schemes``, which
    ``tests/test_mmengine_overrides.py`` pins with MMEngine's local loader.
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._previous = None

    def before_run(self, runner) -> None:
        self._previous = CheckpointLoader._schemes.get('')
        register_safe_checkpoint_loader()

    def after_run(self, runner) -> None:
        if self._previous is not None:
            CheckpointLoader.register_scheme(
                prefixes='', loader=self._previous, force=True)
            self._previous = None
