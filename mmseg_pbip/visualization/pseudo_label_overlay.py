"""Overlays of pseudo labels: image | CAM heat map | label colours, with a
legend."""
import os
import os.path as osp
from typing import Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..utils import atomic_path

LEGEND_BACKGROUND = (40, 40, 40)


def legend_strip(width: int, names: Sequence[str],
                 colours: Sequence[Sequence[int]]) -> np.ndarray:
    """A colour box and the name of every label, in rows that wrap at
    ``width``.

    Args:
        width (int): Width of the strip in pixels.
        names (Sequence[str]): Label names.
        colours (Sequence): RGB of every name.

    Returns:
        np.ndarray: ``[h, width, 3]`` uint8.
    """
    font = ImageFont.load_default()
    box, gap, line = 10, 6, 14
    entries = []  # (x, y, colour, name)
    x, y = gap, 2
    for name, colour in zip(names, colours):
        size = box + 4 + int(font.getlength(name)) + gap
        if x > gap and x + size > width:
            x, y = gap, y + line
        entries.append((x, y, colour, name))
        x += size
    strip = Image.new('RGB', (width, y + line + 2), LEGEND_BACKGROUND)
    draw = ImageDraw.Draw(strip)
    for x, y, colour, name in entries:
        draw.rectangle([x, y + 1, x + box - 1, y + box],
                       fill=tuple(int(v) for v in colour))
        draw.text((x + box + 4, y), name, fill=(255, 255, 255), font=font)
    return np.asarray(strip)


def save_overlay(overlay_dir: str,
                 img_path: str,
                 mask: np.ndarray,
                 palette: Sequence[Sequence[int]],
                 cams: Optional[np.ndarray] = None,
                 alpha: float = 0.5,
                 classes: Optional[Sequence[str]] = None) -> str:
    """Write ``<stem>_overlay.png``: image | CAM heat map | pseudo mask blended
    on the image, and under them a legend of the labels in the mask (when
    ``classes`` is given). Written atomically.

    Args:
        overlay_dir (str): Output folder (created).
        img_path (str): The image.
        mask (np.ndarray): ``[H, W]`` pseudo label.
        palette (Sequence): Dataset palette, one RGB per label.
        cams (np.ndarray, optional): ``[N, H, W]`` fused CAMs in [0, 1]; the
            heat map shows their maximum over classes.
        alpha (float): Opacity of the colours. Defaults to 0.5.
        classes (Sequence[str], optional): Name of every label (the
            dataset's ``classes``): adds the legend.

    Returns:
        str: The overlay's path.
    """
    os.makedirs(overlay_dir, exist_ok=True)
    img = np.asarray(Image.open(img_path).convert('RGB'), dtype=np.float32)
    colours = np.asarray(palette, dtype=np.float32)[mask]
    panels = [img]
    if cams is not None:
        heat = np.clip(cams.max(0), 0, 1)[..., None]
        red_to_yellow = np.concatenate(
            [np.ones_like(heat), heat,
             np.zeros_like(heat)], -1) * 255
        panels.append((1 - alpha * heat) * img + alpha * heat * red_to_yellow)
    panels.append((1 - alpha) * img + alpha * colours)
    picture = np.concatenate(panels, axis=1).astype(np.uint8)
    if classes is not None:
        present = [int(v) for v in np.unique(mask)]
        legend = legend_strip(picture.shape[1], [classes[v] for v in present],
                              [palette[v] for v in present])
        picture = np.concatenate([picture, legend], axis=0)
    path = osp.join(overlay_dir,
                    osp.splitext(osp.basename(img_path))[0] + '_overlay.png')
    with atomic_path(path) as tmp:
        Image.fromarray(picture).save(tmp, format='PNG')
    return path
