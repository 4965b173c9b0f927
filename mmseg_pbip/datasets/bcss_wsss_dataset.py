"""BCSS-WSSS (Han et al., MLPS / WSSS-Tissue release)."""
from mmseg.registry import DATASETS

from .histo_wsss_dataset import HistoWSSSDataset


@DATASETS.register_module()
class BCSSWSSSDataset(HistoWSSSDataset):
    """BCSS-WSSS: breast cancer patches, 224x224, four tissue classes.

    Layout (``data_root``)::

        training/  TCGA-..._xmin45749_ymin25055_MPP-0.2500+0[1101].png
        val/img/   *.png        val/mask/   *.png (P mode, 0-3 tissue, 4 bg)
        test/img/  *.png        test/mask/  *.png

    Label digits are in class order TUM, STR, LYM, NEC.
    """
    METAINFO = dict(
        classes=('TUM', 'STR', 'LYM', 'NEC', 'BACK'),
        palette=[[255, 0, 0], [0, 255, 0], [0, 0, 255], [153, 0, 255],
                 [255, 255, 255]],
        background_index=4)
    LABEL_FORMAT = 'bcss-wsss'
