"""Packing that carries the image-level label into the data sample."""
import numpy as np
import torch
from mmseg.datasets.transforms import PackSegInputs
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackHistoSegInputs(PackSegInputs):
    """:class:`mmseg.datasets.transforms.PackSegInputs` plus the label.

    ``results['gt_cls_label']`` (``[C]`` multi-hot) becomes the data field
    ``data_sample.gt_cls_label``, a float tensor of shape ``[C]``; samples
    without it (inference on unlabelled images) get none.

    Args:
        with_seg (bool): Pack ``gt_seg_map`` when present. Set False where a
            mask was loaded only to derive the image-level label, so that a
            weakly supervised model never sees it. Defaults to True.
        **kwargs: Passed to :class:`PackSegInputs` (``meta_keys``).
    """

    def __init__(self, with_seg: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.with_seg = with_seg

    def transform(self, results: dict) -> dict:
        if not self.with_seg and 'gt_seg_map' in results:
            results = {k: v for k, v in results.items() if k != 'gt_seg_map'}
        packed = super().transform(results)
        if 'gt_cls_label' in results:
            packed['data_samples'].gt_cls_label = torch.as_tensor(
                np.asarray(results['gt_cls_label']), dtype=torch.float32)
        return packed

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f', with_seg={self.with_seg})'
