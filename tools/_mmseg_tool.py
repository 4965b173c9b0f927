"""Run one of MMSeg's own tools with mmseg-pbip registered."""
import runpy
import sys


def launcher_from_argv(argv) -> str:
    """The ``--launcher`` value of a command line ('none' when absent)."""
    for i, arg in enumerate(argv):
        if arg == '--launcher' and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith('--launcher='):
            return arg.split('=', 1)[1]
    return 'none'


def run_mmseg_tool(name: str) -> None:
    """Execute ``mmseg/.mim/tools/<name>`` as ``__main__``.

    MMSeg's wheel ships its tools; running them (instead of copies) keeps
    the arguments and behaviour identical to MMSeg's. ``mmseg_pbip`` is
    imported first so its components and the checkpoint allow-list exist
    even for configs without ``custom_imports``. Multi-process runs without
    CUDA join torchrun's group on gloo here (MMEngine's launcher would call
    ``torch.cuda.set_device``); with GPUs MMEngine sets up nccl itself.

    Args:
        name (str): Path of the tool under ``mmseg/.mim/tools``.
    """
    import torch

    import mmseg_pbip  # noqa: F401
    from mmseg_pbip.utils import (init_launcher, keep_freed_memory,
                                  mmseg_tool_path)

    # CPU steps free and re-fault GBs of activations under glibc's defaults
    # (MMSEG_PBIP_MALLOC=system keeps them; mmseg_pbip.utils.allocator)
    keep_freed_memory()
    path = mmseg_tool_path(name)
    if not torch.cuda.is_available():
        init_launcher(launcher_from_argv(sys.argv[1:]))
    runpy.run_path(path, run_name='__main__')
