"""Random rotation by multiples of 90 degrees (no interpolation)."""
from typing import Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomRotate90(BaseTransform):
    """Rotate the image and every segmentation field by ``k * 90`` degrees.

    Histology has no canonical orientation; the released PBIP code trains
    with flips and 90-degree rotations. Labels are unchanged; square patches
    keep their shape, others swap height and width.

    With probability ``prob`` the transform applies, and ``k`` is drawn
    uniformly from ``quarter_turns``. The released code uses albumentations'
    ``RandomRotate90(p=0.5)``, which draws ``k`` from {0, 1, 2, 3}: a quarter
    of the applied draws are the identity, so 37.5 % of the images end up
    rotated; the dataset bases set ``quarter_turns=(0, 1, 2, 3)`` for that.
    The default {1, 2, 3} always rotates when the transform applies.

    Args:
        prob (float): Probability of applying the transform. Defaults to 0.5.
        quarter_turns (Sequence[int]): The ``k`` to draw from uniformly
            (distinct, each in 0-3). Defaults to (1, 2, 3).
    """

    def __init__(self,
                 prob: float = 0.5,
                 quarter_turns: Sequence[int] = (1, 2, 3)) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        turns = tuple(int(k) for k in quarter_turns)
        if not turns or len(
                set(turns)) != len(turns) or not set(turns) <= {0, 1, 2, 3}:
            raise ValueError('quarter_turns must be distinct values in 0-3, '
                             f'got {quarter_turns}')
        self.prob = prob
        self.quarter_turns = turns

    @cache_randomness
    def _draw_k(self) -> int:
        if np.random.rand() >= self.prob:
            return 0
        return self.quarter_turns[np.random.randint(len(self.quarter_turns))]

    def transform(self, results: dict) -> dict:
        k = self._draw_k()
        if k == 0:
            return results
        results['img'] = np.ascontiguousarray(np.rot90(results['img'], k))
        for key in results.get('seg_fields', []):
            results[key] = np.ascontiguousarray(np.rot90(results[key], k))
        results['img_shape'] = results['img'].shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(prob={self.prob}, '
                f'quarter_turns={self.quarter_turns})')
