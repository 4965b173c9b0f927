"""Write the predictions of a test loop as pseudo-label PNGs."""
import os
from typing import Dict, Optional, Sequence

import torch
from mmengine.dist import all_reduce
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmseg.registry import METRICS

from ...utils import png_path_for, save_index_png
from ...visualization import save_overlay
from .histo_seg_metric import to_numpy


@METRICS.register_module()
class PseudoLabelWriter(BaseMetric):
    """A ``format_only`` metric: every prediction of ``Runner.test()`` becomes
    ``output_dir/<image stem>.png``.

    The PNG has the format of the dataset's masks: P mode, the dataset
    palette (``dataset_meta['palette']``), tissue classes ``0 .. B - 1`` and
    background ``B``. Each file is written under a temporary name and renamed,
    so an existing PNG is always complete (the resumable pseudo-label tool
    skips it). Nothing is scored: the images have no masks.

    Args:
        output_dir (str): Folder of the PNGs (created).
        overlay_dir (str, optional): Folder of overlays (image, CAM heat map,
            label colours, legend) for the images named in
            ``overlay_images``.
        overlay_images (Sequence[str]): File names (basename) of the images
            to draw. Defaults to none.
        collect_device (str): Unused (nothing is gathered but a count);
            accepted as every MMEngine metric does. Defaults to 'cpu'.
        prefix (str, optional): Prefix of the returned key.
    """
    default_prefix = 'pseudo_labels'

    def __init__(self,
                 output_dir: str,
                 overlay_dir: Optional[str] = None,
                 overlay_images: Sequence[str] = (),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.output_dir = output_dir
        self.overlay_dir = overlay_dir
        self.overlay_images = set(overlay_images)
        self.written = 0
        os.makedirs(output_dir, exist_ok=True)

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Write the PNG (and the overlay, when asked) of every sample.

        Args:
            data_batch (dict): The batch (unused).
            data_samples (Sequence[dict]): Predictions with ``img_path``,
                ``pred_sem_seg`` (``[1, H, W]``) and optionally
                ``seg_logits`` (``[N, H, W]`` fused CAMs, for overlays).
        """
        palette = (self.dataset_meta or {}).get('palette') or []
        for sample in data_samples:
            mask = to_numpy(sample['pred_sem_seg']['data'])[0]
            save_index_png(
                png_path_for(self.output_dir, sample['img_path']), mask,
                palette)
            if self.overlay_dir and os.path.basename(
                    sample['img_path']) in self.overlay_images:
                cams = sample.get('seg_logits', {}).get('data')
                save_overlay(
                    self.overlay_dir,
                    sample['img_path'],
                    mask,
                    palette,
                    None if cams is None else to_numpy(cams),
                    classes=(self.dataset_meta or {}).get('classes'))
            self.written += 1

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Unused: :meth:`evaluate` counts without gathering."""
        raise NotImplementedError

    def evaluate(self, size: int) -> Dict[str, int]:
        """The number of PNGs written by all ranks.

        Nothing else is gathered: the PNGs are on disk. Every rank must call
        it (a sum over the process group).

        Args:
            size (int): Length of the dataset (unused: nothing is padded).

        Returns:
            dict[str, int]: ``{'<prefix>/written': count}``.
        """
        count = torch.tensor(self.written, dtype=torch.int64)
        all_reduce(count)  # sum; a no-op in one process
        self.written = 0
        print_log(
            f'{int(count)} pseudo labels written to {self.output_dir}',
            logger='current')
        return {f'{self.prefix}/written': int(count)}
