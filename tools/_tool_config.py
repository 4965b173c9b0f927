"""Config loading shared by the command-line tools.

Only the tools use it, so it lives beside them, not in the package. Tools in
``tools/`` import it as ``_tool_config``; those in its subfolders append
``tools/`` to ``sys.path`` first.
"""
import os.path as osp
from typing import Optional

from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmseg_pbip.utils.optional import missing_extra_in


def load_tool_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Load a config as MMSeg's tools do.

    Args:
        path (str): Config file.
        cfg_options (dict, optional): ``--cfg-options`` overrides.

    Returns:
        Config: The merged config; its ``default_scope`` (``mmseg`` when
        unset) is made the current registry scope.

    Raises:
        MissingExtraError: A module in the config's ``custom_imports`` needs
            an optional extra that is not installed (raised as it is, not as
            MMEngine's message about ``sys.path``).
    """
    try:
        cfg = Config.fromfile(path)
    except ImportError as e:
        missing = missing_extra_in(e)
        if missing is not None:
            raise missing from None
        raise
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    return cfg


def tool_work_dir(cfg, config_path: str) -> str:
    """The run folder ``tools/train.py`` uses for a config: its ``work_dir``,
    else ``work_dirs/<config name>``."""
    return cfg.get('work_dir') or osp.join(
        'work_dirs',
        osp.splitext(osp.basename(config_path))[0])
