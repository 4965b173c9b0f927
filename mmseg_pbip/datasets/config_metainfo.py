"""The metainfo (classes, palette, ...) a config's dataset will have."""
from typing import Optional

from mmseg.registry import DATASETS


def config_metainfo(cfg) -> Optional[dict]:
    """``METAINFO`` of the config's dataset type, with the dataset config's own
    ``metainfo`` overrides, without building the dataset.

    The training dataset is used, else the test, else the validation one.

    Args:
        cfg (Config): A full config.

    Returns:
        dict, optional: The metainfo; None when no dataloader names a
        registered dataset type with classes.
    """
    for key in ('train_dataloader', 'test_dataloader', 'val_dataloader'):
        ds = (cfg.get(key) or {}).get('dataset') or {}
        ds_type = DATASETS.get(ds.get('type', ''))
        meta = dict(
            getattr(ds_type, 'METAINFO', None) or {},
            **(ds.get('metainfo') or {}))
        if meta.get('classes'):
            return meta
    return None
