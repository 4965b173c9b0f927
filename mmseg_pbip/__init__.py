"""mmseg-pbip: weakly supervised histopathology segmentation for MMSeg 1.x.

Importing the package registers every component into MMSegmentation's
registries (default scope stays ``mmseg``) and allow-lists the globals of
MMEngine checkpoints for torch's safe loading, so a config with
``custom_imports = dict(imports=['mmseg_pbip'], allow_failed_imports=False)``
works with stock MMSeg tools. It replaces no loader: the runs of this
plugin's configs load checkpoints with ``weights_only=True`` through
:class:`SafeCheckpointLoadingHook`, which the shared runtime enables.
"""
from .utils import register_safe_globals

register_safe_globals()

from . import apis, datasets, engine, evaluation, models  # noqa: E402,F401
from .version import __version__  # noqa: E402

__all__ = ['__version__']
