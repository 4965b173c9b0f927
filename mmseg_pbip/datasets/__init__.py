from .bcss_dataset import BCSSDataset
from .bcss_wsss_dataset import BCSSWSSSDataset
from .cls_label_parsing import (LABEL_FORMATS, cls_label_from_mask,
                                format_cls_label, parse_cls_label)
from .config_metainfo import config_metainfo
from .gcss_dataset import GCSSDataset
from .histo_wsss_dataset import HistoWSSSDataset
from .luad_histoseg_dataset import LUADHistoSegDataset
from .samplers import BatchRoundRobinSampler
from .transforms import *  # noqa: F401,F403

__all__ = [
    'HistoWSSSDataset', 'BCSSWSSSDataset', 'LUADHistoSegDataset',
    'BCSSDataset', 'GCSSDataset', 'LABEL_FORMATS', 'parse_cls_label',
    'format_cls_label', 'cls_label_from_mask', 'config_metainfo',
    'BatchRoundRobinSampler'
]
