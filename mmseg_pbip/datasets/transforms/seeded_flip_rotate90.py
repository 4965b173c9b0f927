"""Flips and a 90-degree rotation fixed by the file name and a seed."""
import zlib

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class SeededFlipRotate90(BaseTransform):
    """Flip and rotate an image as the released image bank does, the draw fixed
    per file.

    The released bank augments each patch with albumentations'
    ``HorizontalFlip``, ``VerticalFlip`` and ``RandomRotate90``, each with
    p=0.5 (the rotation draws ``k`` uniformly from 0-3 when it applies, so
    37.5 % of the patches end up rotated). Here the draw comes from a
    ``np.random.RandomState`` seeded with ``crc32(file name) + seed``, so
    every process, worker and run sees the same view of a patch. The
    image and every segmentation field get, in this order, the horizontal
    flip, the vertical flip and ``k`` counter-clockwise quarter turns.

    Required keys: ``img``, ``img_path``. Modified keys: ``img``,
    ``img_shape`` and the ``seg_fields``.

    Args:
        seed (int): Added to the file name's CRC-32. Defaults to 42.
    """

    def __init__(self, seed: int = 42) -> None:
        self.seed = int(seed)

    def draw(self, path: str) -> tuple:
        """The view of one file: ``(hflip, vflip, k)``.

        Each flip with p=0.5, then ``k`` quarter turns: 0 unless the
        rotation applies (p=0.5), then uniform in 0-3. Only the file name
        counts, not its folder.
        """
        name = path.replace('\\', '/').rsplit('/', 1)[-1]
        rng = np.random.RandomState(
            (zlib.crc32(name.encode()) + self.seed) % 2**32)
        hflip, vflip = rng.rand() < 0.5, rng.rand() < 0.5
        k = int(rng.randint(0, 4)) if rng.rand() < 0.5 else 0
        return hflip, vflip, k

    @staticmethod
    def apply(img: np.ndarray, hflip: bool, vflip: bool, k: int) -> np.ndarray:
        """``[H, W, ...]`` -> the flipped, rotated array (contiguous)."""
        if hflip:
            img = img[:, ::-1]
        if vflip:
            img = img[::-1]
        return np.ascontiguousarray(np.rot90(img, k))

    def transform(self, results: dict) -> dict:
        view = self.draw(results['img_path'])
        results['img'] = self.apply(results['img'], *view)
        for key in results.get('seg_fields', []):
            results[key] = self.apply(results[key], *view)
        results['img_shape'] = results['img'].shape[:2]
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(seed={self.seed})'
