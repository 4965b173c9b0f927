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


def init_cpu_process_group(launcher: str) -> None:
    """Join torchrun's process group on gloo when there is no CUDA.

    MMEngine's launcher calls ``torch.cuda.set_device`` before joining, which
    fails without a GPU; once a group exists, the runner uses it as is. With
    GPUs nothing is done here and MMEngine sets up nccl from ``env_cfg``.
    """
    import torch
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise SystemExit(f'--launcher {launcher} needs GPUs; without CUDA, '
                         'run processes with torchrun and --launcher pytorch '
                         '(tools/dist_train.sh)')
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group('gloo')


def run_mmseg_tool(name: str) -> None:
    """Execute ``mmseg/.mim/tools/<name>`` as ``__main__``.

    MMSeg's wheel ships its tools; running them (instead of copies) keeps
    the arguments and behaviour identical to MMSeg's. ``mmseg_pbip`` is
    imported first so its components and the checkpoint allow-list exist
    even for configs without ``custom_imports``; multi-process CPU runs get
    a gloo process group (:func:`init_cpu_process_group`).

    Args:
        name (str): Path of the tool under ``mmseg/.mim/tools``.
    """
    import mmseg

    import mmseg_pbip  # noqa: F401
    path = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', name)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} is missing: this mmseg install does not ship its tools '
            '(install the mmsegmentation wheel from PyPI)')
    init_cpu_process_group(launcher_from_argv(sys.argv[1:]))
    runpy.run_path(path, run_name='__main__')
