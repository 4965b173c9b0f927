"""Mask loading with checks, and image-level labels derived from masks."""
import numpy as np
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS

from ..cls_label_parsing import cls_label_from_mask


@TRANSFORMS.register_module()
class LoadHistoAnnotations(LoadAnnotations):
    """Load a tissue mask, check it against its image, derive the label.

    Run it after the image is loaded. Masks hold tissue classes
    ``0 .. background_index - 1``, background ``background_index`` (4 in
    every supported dataset) and optionally ``ignore_index`` (255).

    Adds ``gt_seg_map`` (``[H, W]`` uint8) and, when the sample has no
    ``gt_cls_label`` yet, the image-level label derived from the mask
    (``[background_index]`` uint8 multi-hot: tissue classes present).

    Raises:
        ValueError: naming the mask when it cannot be decoded, its size
            differs from the image's, or it holds values outside the classes.

    Args:
        ignore_index (int): Mask value that is allowed and ignored.
            Defaults to 255.
        **kwargs: Passed to :class:`mmseg.datasets.transforms.LoadAnnotations`.
    """

    def __init__(self, ignore_index: int = 255, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        seg_path = results['seg_map_path']
        try:
            self._load_seg_map(results)
        except FileNotFoundError as e:
            raise FileNotFoundError(f'{seg_path}: mask file not found') from e
        except Exception as e:
            raise ValueError(f'{seg_path}: cannot be read as a mask '
                             f'(empty, truncated or not an image): {e}') from e
        mask = results['gt_seg_map']
        if mask.ndim != 2:
            raise ValueError(f'{seg_path}: mask must be single-channel '
                             f'(P or L mode), got shape {mask.shape}')
        if 'img_shape' in results and \
                tuple(mask.shape) != tuple(results['img_shape'][:2]):
            raise ValueError(
                f"{seg_path}: mask size {mask.shape[1]}x{mask.shape[0]} "
                f"differs from image {results['img_path']} size "
                f"{results['img_shape'][1]}x{results['img_shape'][0]}")
        bg = results['background_index']
        values = np.unique(mask)
        bad = values[(values > bg) & (values != self.ignore_index)]
        if bad.size:
            raise ValueError(
                f'{seg_path}: mask values {bad.tolist()} are outside the '
                f'classes (0-{bg - 1} tissue, {bg} background, '
                f'{self.ignore_index} ignore)')
        if 'gt_cls_label' not in results:
            results['gt_cls_label'] = cls_label_from_mask(mask, bg)
        return results

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f', ignore_index={self.ignore_index})'
