"""Run one of MMSeg's own tools with mmseg-pbip registered."""
import os.path as osp
import runpy


def run_mmseg_tool(name: str) -> None:
    """Execute ``mmseg/.mim/tools/<name>`` as ``__main__``.

    MMSeg's wheel ships its tools; running them (instead of copies) keeps
    the arguments and behaviour identical to MMSeg's. ``mmseg_pbip`` is
    imported first so its components and the checkpoint allow-list exist
    even for configs without ``custom_imports``.

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
    runpy.run_path(path, run_name='__main__')
