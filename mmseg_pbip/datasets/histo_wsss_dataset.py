"""Base class of the weakly supervised histopathology patch datasets."""
import os.path as osp
from typing import List

import numpy as np
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .cls_label_parsing import parse_cls_label


@DATASETS.register_module()
class HistoWSSSDataset(BaseSegDataset):
    """Histopathology patches with image-level labels and, optionally, masks.

    Subclasses set ``METAINFO`` (tissue classes followed by the background
    entry ``'BACK'``, palettes, ``background_index``) and ``LABEL_FORMAT``.

    Two ways to obtain the image-level label ``gt_cls_label`` (a multi-hot
    ``np.ndarray`` of shape ``[num_tissue_classes]``), chosen by
    ``cls_label_from``:

    - ``'filename'`` (training splits): parsed from the file name in the
      dataset's own format, no mask needed. When ``data_prefix`` also has a
      ``seg_map_path`` (stage two: a folder of pseudo labels), each image is
      paired with the mask of the same stem.
    - ``'mask'`` (val/test splits): ``data_prefix`` must have
      ``seg_map_path``; the label is derived from the mask in the pipeline
      (see :class:`LoadHistoAnnotations`): the tissue classes present,
      background excluded.

    Folder problems (missing, empty, an image without its mask) and file
    names without a parsable label raise at construction, naming the folder
    or the file. Unreadable images and masks whose size differs from their
    image raise when the sample is loaded, naming the file.

    Args:
        cls_label_from (str): ``'filename'`` or ``'mask'``.
        label_format (str, optional): Name format of the labels, one of
            :data:`LABEL_FORMATS`; defaults to the class's ``LABEL_FORMAT``.
        img_suffix (str): Suffix of images. Defaults to '.png'.
        seg_map_suffix (str): Suffix of masks. Defaults to '.png'.
        **kwargs: Passed to :class:`mmseg.datasets.BaseSegDataset`.
    """
    METAINFO: dict = dict()
    LABEL_FORMAT: str = 'bcss-wsss'

    def __init__(self,
                 cls_label_from: str = 'filename',
                 label_format: str = None,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '.png',
                 **kwargs) -> None:
        if cls_label_from not in ('filename', 'mask'):
            raise ValueError("cls_label_from must be 'filename' or 'mask', "
                             f'got {cls_label_from!r}')
        self.cls_label_from = cls_label_from
        self.label_format = label_format or self.LABEL_FORMAT
        super().__init__(
            img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)

    @property
    def background_index(self) -> int:
        """int: Mask value of background (white glass), also the number of
        tissue classes."""
        return self.metainfo['background_index']

    @property
    def tissue_classes(self) -> tuple:
        """Tuple[str]: Class names of the image-level label, in order."""
        return tuple(self.metainfo['classes'][:self.background_index])

    def load_data_list(self) -> List[dict]:
        """List the split's images, attach labels and check the layout.

        Returns:
            list[dict]: One dict per image with ``img_path``, optionally
            ``seg_map_path``, ``gt_cls_label`` (filename mode) and
            ``background_index``.
        """
        img_dir = self.data_prefix.get('img_path', None)
        ann_dir = self.data_prefix.get('seg_map_path', None) or None
        if not img_dir or not osp.isdir(img_dir):
            raise FileNotFoundError(
                f'{type(self).__name__}: image folder {img_dir!r} does not '
                'exist (check data_root and data_prefix.img_path)')
        if self.cls_label_from == 'mask' and ann_dir is None:
            raise ValueError(
                f"{type(self).__name__}: cls_label_from='mask' needs "
                f'data_prefix.seg_map_path (images in {img_dir})')
        if ann_dir is not None and not osp.isdir(ann_dir):
            raise FileNotFoundError(
                f'{type(self).__name__}: mask folder {ann_dir!r} does not '
                'exist (check data_root and data_prefix.seg_map_path)')
        if ann_dir is None:
            # BaseSegDataset pairs masks whenever the key is present.
            self.data_prefix.pop('seg_map_path', None)

        data_list = super().load_data_list()
        if not data_list:
            raise FileNotFoundError(
                f'{type(self).__name__}: image folder {img_dir!r} holds no '
                f'{self.img_suffix!r} file')

        num_classes = self.background_index
        for info in data_list:
            info['background_index'] = num_classes
            if ann_dir is not None and not osp.isfile(info['seg_map_path']):
                raise FileNotFoundError(
                    f"{info['img_path']}: no mask {info['seg_map_path']} "
                    'for this image')
            if self.cls_label_from == 'filename':
                info['gt_cls_label'] = np.asarray(
                    parse_cls_label(info['img_path'], self.label_format,
                                    num_classes),
                    dtype=np.uint8)
        return data_list

    def get_cls_labels(self) -> np.ndarray:
        """Image-level labels of a filename-labelled split, without loading any
        image.

        Returns:
            np.ndarray: ``[N, num_tissue_classes]`` multi-hot, uint8.
        """
        if self.cls_label_from != 'filename':
            raise ValueError(
                f'{type(self).__name__}: image-level labels are read from '
                "masks in this split; get_cls_labels needs "
                "cls_label_from='filename'")
        return np.stack(
            [self.get_data_info(i)['gt_cls_label'] for i in range(len(self))])
