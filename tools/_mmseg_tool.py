"""Run one of MMSeg's own tools with mmseg-pbip registered."""
import os.path as osp
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


def mmseg_tool_path(name: str) -> str:
    """Path of one of MMSeg's own tools, shipped in the mmseg wheel under
    ``mmseg/.mim/tools`` (e.g. ``'test.py'``,
    ``'model_converters/mit2mmseg.py'``).

    Raises:
        FileNotFoundError: this mmseg install does not ship its tools.
    """
    import mmseg
    path = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', name)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} is missing: this mmseg install does not ship its tools '
            '(install the mmsegmentation wheel from PyPI)')
    return path


def run_mmseg_tool(name: str) -> None:
    """Execute ``mmseg/.mim/tools/<name>`` as ``__main__``.

    MMSeg's wheel ships its tools; running them (instead of copies) keeps
    the arguments and behaviour identical to MMSeg's. ``mmseg_pbip`` is
    imported first so its components and the checkpoint allow-list exist
    even for configs without ``custom_imports``. Multi-process runs without
    CUDA join torchrun's group on gloo here (MMEngine's launcher would call
    ``torch.cuda.set_device``) and wrap the model in ``DeviceAgnosticDDP``
    (``--cfg-options model_wrapper_cfg.type=DeviceAgnosticDDP``, after the
    user's); with GPUs MMEngine sets up nccl and its own DDP wrapper.
    A multi-process run that finished leaves its group before the
    interpreter exits (``leave_process_group``).

    Args:
        name (str): Path of the tool under ``mmseg/.mim/tools``.
    """
    import torch
    from _allocator import keep_freed_memory
    from _tool_config import init_launcher, leave_process_group

    import mmseg_pbip  # noqa: F401
    from mmseg_pbip.engine.model_wrappers import cpu_ddp_options

    # CPU steps free and re-fault GBs of activations under glibc's defaults
    # (MMSEG_PBIP_MALLOC=system keeps them; tools/_allocator.py)
    keep_freed_memory()
    path = mmseg_tool_path(name)
    launcher = launcher_from_argv(sys.argv[1:])
    if not torch.cuda.is_available():
        init_launcher(launcher)
    options = [f'{k}={v}' for k, v in cpu_ddp_options(launcher).items()]
    if options:
        sys.argv += ['--cfg-options'] + options
    runpy.run_path(path, run_name='__main__')
    leave_process_group()
