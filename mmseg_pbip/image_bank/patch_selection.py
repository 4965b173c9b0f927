"""Choose the training patches that may enter the image bank."""
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from ..utils import shard_map
from .bank_reader import BankImageReader


def white_fraction(rgb01: np.ndarray, grey_threshold: float = 200.) -> float:
    """Fraction of pixels whose mean intensity exceeds ``grey_threshold``
    (0-255 scale): unstained glass."""
    return float((rgb01.mean(-1) * 255 > grey_threshold).mean())


def single_label_indices(labels: np.ndarray) -> Dict[int, List[int]]:
    """Patches whose image-level label names exactly one class.

    Args:
        labels (np.ndarray): ``[M, N]`` multi-hot.

    Returns:
        dict[int, list[int]]: class -> indices of its single-label patches.
    """
    single = labels.sum(1) == 1
    return {
        c: np.flatnonzero(single & (labels[:, c] > 0)).tolist()
        for c in range(labels.shape[1])
    }


def drop_white_patches(
        paths: Sequence[str],
        indices: Sequence[int],
        max_white_fraction: float,
        grey_threshold: float = 200.,
        chunk_size: int = 64,
        read: Optional[Callable[[str], np.ndarray]] = None) -> List[int]:
    """Keep the indices whose patch is at most ``max_white_fraction`` white.

    In multi-process runs the reading is shared by the ranks
    (:func:`~mmseg_pbip.utils.shard_map`); every rank gets the result.

    Args:
        read (callable, optional): ``path -> [H, W, 3]`` float32 RGB in
            [0, 1]. Defaults to :meth:`BankImageReader.rgb01` of the default
            reader (flips and rotations would not change the fraction).
    """
    read = read or BankImageReader().rgb01
    fractions = shard_map(
        lambda chunk:
        [white_fraction(read(paths[i]), grey_threshold) for i in chunk],
        list(indices), chunk_size)
    flat = [f for part in fractions for f in part]
    return [i for i, f in zip(indices, flat) if f <= max_white_fraction]
