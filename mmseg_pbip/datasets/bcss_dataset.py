"""BCSS, fully annotated (Amgad et al.), four-class subset."""
from mmseg.registry import DATASETS

from .bcss_wsss_dataset import BCSSWSSSDataset
from .histo_wsss_dataset import HistoWSSSDataset


@DATASETS.register_module()
class BCSSDataset(HistoWSSSDataset):
    """BCSS patches reduced to the four main tissue classes.

    BCSS ships masks for every split. Its weakly supervised use takes the
    image-level label of training patches from their masks
    (``cls_label_from='mask'``); patches exported with the label in their
    name in the BCSS-WSSS style (``...[1101].png``) can use
    ``cls_label_from='filename'`` instead.

    Layout (``data_root``)::

        train/img/ *.png        train/mask/ *.png (0-3 tissue, 4 other/bg)
        val/img/   *.png        val/mask/   *.png
        test/img/  *.png        test/mask/  *.png
    """
    # BCSS-WSSS is derived from BCSS: same classes, order and palette.
    METAINFO = BCSSWSSSDataset.METAINFO
    LABEL_FORMAT = 'bcss-wsss'
