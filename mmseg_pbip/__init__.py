"""mmseg-pbip: weakly supervised histopathology segmentation for MMSeg 1.x.

Importing the package registers every component into MMSegmentation's
registries (default scope stays ``mmseg``) and allow-lists the globals of
MMEngine checkpoints for torch's safe loading (and makes MMEngine load local
checkpoints with ``weights_only=True`` explicitly), so a config with
``custom_imports = dict(imports=['mmseg_pbip'], allow_failed_imports=False)``
works with stock MMSeg tools.
"""
from .utils import register_safe_checkpoint_loader, register_safe_globals

register_safe_globals()
register_safe_checkpoint_loader()

from . import apis, datasets, engine, evaluation, models  # noqa: E402,F401
from .version import __version__  # noqa: E402

__all__ = ['__version__']
