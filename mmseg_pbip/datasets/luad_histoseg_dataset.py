"""LUAD-HistoSeg (Han et al., MLPS / WSSS-Tissue release)."""
from mmseg.registry import DATASETS

from .histo_wsss_dataset import HistoWSSSDataset


@DATASETS.register_module()
class LUADHistoSegDataset(HistoWSSSDataset):
    """LUAD-HistoSeg: lung adenocarcinoma patches, 224x224 at 10x.

    Layout (``data_root``)::

        training/  1031280-2300-27920-[1 0 0 1].png
        val/img/   *.png        val/mask/   *.png (P mode, 0-3 tissue, 4 bg)
        test/img/  *.png        test/mask/  *.png

    Label entries are in class order TE, NEC, LYM, TAS.
    """
    METAINFO = dict(
        classes=('TE', 'NEC', 'LYM', 'TAS', 'BACK'),
        palette=[[205, 51, 51], [0, 255, 0], [65, 105, 225], [255, 165, 0],
                 [255, 255, 255]],
        background_index=4)
    LABEL_FORMAT = 'luad-histoseg'
