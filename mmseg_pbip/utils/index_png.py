"""Label maps as P-mode PNGs: the format of the datasets' masks."""
import os.path as osp
from typing import Sequence

import numpy as np
from PIL import Image

from .atomic_files import atomic_path


def png_path_for(folder: str, img_path: str) -> str:
    """``folder/<image stem>.png``: the name a mask of ``img_path`` has (the
    name a stage-two dataset pairs with the image)."""
    return osp.join(folder, osp.splitext(osp.basename(img_path))[0] + '.png')


def save_index_png(path: str, mask: np.ndarray,
                   palette: Sequence[Sequence[int]]) -> None:
    """Write ``mask`` as a P-mode PNG with ``palette``, atomically.

    Args:
        path (str): The PNG; its folder must exist.
        mask (np.ndarray): ``[H, W]`` label values 0..255.
        palette (Sequence): RGB of every label value, in order.
    """
    image = Image.fromarray(mask.astype(np.uint8), mode='P')
    flat = [int(v) for rgb in palette for v in rgb]
    image.putpalette(flat + [0] * (768 - len(flat)))
    with atomic_path(path) as tmp:
        image.save(tmp, format='PNG')
