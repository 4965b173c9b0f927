"""MIoU, FwIoU, boundary IoU and Dice over the tissue classes."""
from collections import OrderedDict
from typing import Dict, Sequence

import numpy as np
import torch
from mmengine.logging import MMLogger, print_log
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS
from prettytable import PrettyTable

from ...utils import png_path_for, save_index_png
from .boundary import boundary_width, mask_boundary


@METRICS.register_module()
class HistoSegMetric(IoUMetric):
    """Segmentation metrics used by the histopathology WSSS literature.

    Ground-truth masks hold tissue classes ``0 .. B - 1`` and background
    ``B`` (``dataset_meta['background_index']``, 4 in every supported
    dataset); ``ignore_index`` pixels are always left out. Background is
    handled in one of two ways (docs/datasets.md), named in the config:

    - ``'count'`` (released PBIP code): background is a label of the
      confusion matrix, so a tissue class predicted on white glass is a false
      positive of that class and background predicted on tissue a false
      negative.
    - ``'ignore'`` (MLPS / WSSS-Tissue): pixels whose ground truth is
      background are left out.

    Every reported score is over the ``B`` tissue classes (background never
    enters a mean), in percent:

    - ``mIoU``: mean of per-class IoU = TP / (TP + FP + FN), dataset-level;
    - ``FwIoU``: per-class IoU weighted by the class's ground-truth pixel
      frequency among tissue pixels;
    - ``bIoU``: boundary IoU, per class the IoU of the two masks restricted
      to their bands within ``d = boundary_ratio * image diagonal`` of their
      contours, intersections and unions summed over the dataset;
    - ``Dice``: mean per-class F1 = 2 TP / (2 TP + FP + FN).

    A class absent from both prediction and ground truth over the whole
    dataset has an undefined score (NaN) and is left out of the means, as in
    :class:`mmseg.evaluation.IoUMetric`. Per-class scores are returned as
    ``IoU.<class>``, ``bIoU.<class>`` and ``Dice.<class>`` and printed as a
    table.

    Args:
        background_mode (str): ``'count'`` or ``'ignore'``.
        boundary_ratio (float): Band width of bIoU as a fraction of the image
            diagonal. Defaults to 0.02.
        ignore_index (int): Label left out everywhere. Defaults to 255.
        **kwargs: Passed to :class:`mmseg.evaluation.IoUMetric`
            (``collect_device``, ``prefix``, ``output_dir``, ...).
    """

    def __init__(self,
                 background_mode: str = 'count',
                 boundary_ratio: float = 0.02,
                 ignore_index: int = 255,
                 **kwargs) -> None:
        if background_mode not in ('count', 'ignore'):
            raise ValueError("background_mode must be 'count' or 'ignore', "
                             f'got {background_mode!r}')
        if not 0 < boundary_ratio < 1:
            raise ValueError(
                f'boundary_ratio must be in (0, 1), got {boundary_ratio}')
        super().__init__(ignore_index=ignore_index, **kwargs)
        self.background_mode = background_mode
        self.boundary_ratio = boundary_ratio

    @property
    def num_tissue_classes(self) -> int:
        meta = self.dataset_meta or {}
        if 'background_index' not in meta:
            raise KeyError(
                'HistoSegMetric needs dataset_meta["background_index"]; use '
                'a dataset of mmseg_pbip (e.g. BCSSWSSSDataset) or add it to '
                'the dataset metainfo')
        return int(meta['background_index'])

    def compute_sample(self, pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
        """Statistics of one image.

        Args:
            pred (np.ndarray): ``[H, W]`` predicted labels.
            gt (np.ndarray): ``[H, W]`` ground-truth labels.

        Returns:
            np.ndarray: ``[5, B]`` int64 rows: intersection, prediction area,
            ground-truth area, boundary intersection, boundary union, per
            tissue class.
        """
        num = self.num_tissue_classes
        valid = gt != self.ignore_index
        if self.background_mode == 'ignore':
            valid &= gt != num
        # areas as IoUMetric.intersect_and_union counts them over the B
        # tissue classes, in int64 (its torch.histc counts in float32, which
        # is inexact above 2^24 pixels, and with B = 1 takes the data's own
        # range): a label outside 0..B-1 (background, on either side) is not
        # counted, so tissue predicted on background is a false positive and
        # background predicted on tissue a false negative ('count')
        p, g = pred[valid], gt[valid]
        tissue_p, tissue_g = (p >= 0) & (p < num), (g >= 0) & (g < num)
        stats = np.zeros((5, num), np.int64)
        stats[0] = np.bincount(p[tissue_p & (p == g)], minlength=num)[:num]
        stats[1] = np.bincount(p[tissue_p], minlength=num)[:num]
        stats[2] = np.bincount(g[tissue_g], minlength=num)[:num]
        # boundary IoU: what MMSeg lacks
        d = boundary_width(gt.shape[0], gt.shape[1], self.boundary_ratio)
        for c in range(num):
            if stats[1, c] or stats[2, c]:
                pb = mask_boundary(pred == c, d) & valid
                gb = mask_boundary(gt == c, d) & valid
                stats[3, c] = np.count_nonzero(pb & gb)
                stats[4, c] = np.count_nonzero(pb | gb)
        return stats

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Accumulate per-image statistics (see :meth:`compute_sample`); with
        ``output_dir`` (``tools/test.py --out DIR``) also write each prediction
        as ``<image stem>.png`` (P mode, the dataset palette, the dataset's
        label values), atomically; with ``format_only`` only write them."""
        for sample in data_samples:
            pred = to_numpy(sample['pred_sem_seg']['data'].squeeze())
            if not self.format_only:
                gt = to_numpy(sample['gt_sem_seg']['data'].squeeze())
                self.results.append(self.compute_sample(pred, gt))
            if self.output_dir is not None:
                save_index_png(
                    png_path_for(self.output_dir, sample['img_path']), pred,
                    (self.dataset_meta or {}).get('palette') or [])

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Dataset-level scores from the accumulated statistics.

        Args:
            results (list[np.ndarray]): ``[5, B]`` arrays from :meth:`process`.

        Returns:
            dict[str, float]: ``mIoU``, ``FwIoU``, ``bIoU``, ``Dice`` and the
            per-class ``IoU.<c>``, ``bIoU.<c>``, ``Dice.<c>``, in percent.
        """
        logger = MMLogger.get_current_instance()
        if self.format_only:
            logger.info(f'predictions are saved to {self.output_dir}')
            return OrderedDict()
        inter, pred_area, gt_area, b_inter, b_union = np.sum(
            np.stack(results), axis=0).astype(np.float64)
        # IoU and Dice per class: MMSeg's own formulas
        scores = self.total_area_to_metrics(
            torch.from_numpy(inter),
            torch.from_numpy(pred_area + gt_area - inter),
            torch.from_numpy(pred_area),
            torch.from_numpy(gt_area),
            metrics=['mIoU', 'mDice'])
        iou = scores['IoU'].astype(np.float64)
        dice = scores['Dice'].astype(np.float64)
        with np.errstate(divide='ignore', invalid='ignore'):
            biou = b_inter / b_union
        freq = gt_area / max(gt_area.sum(), 1)
        fwiou = float(np.sum(freq * np.nan_to_num(iou)))

        def mean(values):
            return float(np.nanmean(values)) if np.any(
                ~np.isnan(values)) else float('nan')

        metrics = OrderedDict(
            mIoU=round(mean(iou) * 100, 2),
            FwIoU=round(fwiou * 100, 2),
            bIoU=round(mean(biou) * 100, 2),
            Dice=round(mean(dice) * 100, 2))
        names = self.dataset_meta['classes'][:self.num_tissue_classes]
        table = PrettyTable(['Class', 'IoU', 'bIoU', 'Dice', 'GT pixels'])
        for i, name in enumerate(names):
            for key, values in (('IoU', iou), ('bIoU', biou), ('Dice', dice)):
                metrics[f'{key}.{name}'] = round(float(values[i]) * 100, 2)
            table.add_row([
                name, metrics[f'IoU.{name}'], metrics[f'bIoU.{name}'],
                metrics[f'Dice.{name}'],
                int(gt_area[i])
            ])
        print_log(
            f'per class results (background: {self.background_mode}, '
            f'bIoU band {self.boundary_ratio:g} x diagonal):', logger)
        print_log('\n' + table.get_string(), logger=logger)
        return metrics


def to_numpy(t) -> np.ndarray:
    """A tensor (any device) or array-like as a numpy array."""
    return t.cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
