"""GCSS: gastric cancer tissue segmentation."""
from mmseg.registry import DATASETS

from .histo_wsss_dataset import HistoWSSSDataset


@DATASETS.register_module()
class GCSSDataset(HistoWSSSDataset):
    """GCSS patches with four tissue classes.

    Classes: tumour (TUM), lymphoid stroma (LYS), desmoplastic stroma (DES),
    smooth muscle / necrosis (MUS). Same layout and label options as
    :class:`BCSSDataset`.
    """
    METAINFO = dict(
        classes=('TUM', 'LYS', 'DES', 'MUS', 'BACK'),
        palette=[[255, 0, 0], [0, 0, 255], [0, 255, 0], [153, 0, 255],
                 [255, 255, 255]],
        background_index=4)
    LABEL_FORMAT = 'bcss-wsss'
