"""Random rotation by multiples of 90 degrees (no interpolation)."""
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

    Args:
        prob (float): Probability of rotating at all; ``k`` is then drawn
            uniformly from {1, 2, 3}. Defaults to 0.5.
    """

    def __init__(self, prob: float = 0.5) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.prob = prob

    @cache_randomness
    def _draw_k(self) -> int:
        if np.random.rand() >= self.prob:
            return 0
        return int(np.random.randint(1, 4))

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
        return f'{type(self).__name__}(prob={self.prob})'
