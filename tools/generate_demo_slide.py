"""Write a synthetic whole slide: a tiled pyramidal TIFF of demo textures.

    python tools/generate_demo_slide.py OUT.tiff [--width 4096]
        [--height 3072] [--mpp 0.25] [--levels 3] [--seed 0]
        [--no-resolution]

The slide is what scanners' generic TIFF exports look like (tiles of 256,
zlib, one page per level halving the size, resolution tags in um/px), read by
OpenSlide, tiffslide and QuPath. Its layout is known: glass margins, four
tissue bands (TUM, STR, LYM, NEC, left to right) and a round glass hole in
the stroma, painted with the demo generator's textures. ``--no-resolution``
leaves the resolution out (to try ``--slide-mpp``).
"""
import argparse
import os
import os.path as osp

import numpy as np
from synthetic_he import BACKGROUND, _texture


def slide_layout(width: int, height: int) -> np.ndarray:
    """Known classes per level-0 pixel: glass margins and a glass hole,
    four tissue bands (TUM, STR, LYM, NEC) across the middle."""
    layout = np.full((height, width), BACKGROUND, np.uint8)
    y0, y1 = height // 6, height - height // 6
    x0, x1 = width // 8, width - width // 8
    bands = np.linspace(x0, x1, 5).astype(int)
    for c in range(4):
        layout[y0:y1, bands[c]:bands[c + 1]] = c
    cy, cx, r = height // 2, (bands[1] + bands[2]) // 2, height // 12
    yy, xx = np.ogrid[:height, :width]
    layout[(yy - cy)**2 + (xx - cx)**2 < r * r] = BACKGROUND
    return layout


def paint(layout: np.ndarray, seed: int = 0, block: int = 512) -> np.ndarray:
    """RGB pixels of a layout, each class textured block by block."""
    h, w = layout.shape
    rgb = np.empty((h, w, 3), np.uint8)
    rng = np.random.default_rng(seed)
    textures = {}
    for y in range(0, h, block):
        for x in range(0, w, block):
            part = layout[y:y + block, x:x + block]
            for c in np.unique(part):
                if c not in textures or rng.random() < 0.5:
                    textures[c] = np.clip(
                        _texture(rng, int(c), block), 0, 255).astype(np.uint8)
                tex = textures[c][:part.shape[0], :part.shape[1]]
                rgb[y:y + block, x:x + block][part == c] = tex[part == c]
    return rgb


def write_slide(path: str,
                layout: np.ndarray,
                mpp: float = 0.25,
                levels: int = 3,
                seed: int = 0,
                resolution: bool = True) -> np.ndarray:
    """Write the painted layout as a pyramidal tiled TIFF; returns RGB."""
    from mmseg_pbip.utils import atomic_path, import_optional
    tifffile = import_optional('tifffile')
    rgb = paint(layout, seed)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with atomic_path(path) as tmp, tifffile.TiffWriter(tmp) as tw:
        for lvl in range(levels):
            d = 2**lvl
            extra = dict(
                resolution=(1e4 / (mpp * d), 1e4 / (mpp * d)),
                resolutionunit='CENTIMETER') if resolution else {}
            tw.write(
                rgb[::d, ::d],
                tile=(256, 256),
                photometric='rgb',
                compression='zlib',
                subfiletype=1 if lvl else 0,
                **extra)
    return rgb


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out')
    parser.add_argument('--width', type=int, default=4096)
    parser.add_argument('--height', type=int, default=3072)
    parser.add_argument('--mpp', type=float, default=0.25)
    parser.add_argument('--levels', type=int, default=3)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--no-resolution', action='store_true')
    args = parser.parse_args()
    write_slide(args.out, slide_layout(args.width, args.height), args.mpp,
                args.levels, args.seed, not args.no_resolution)
    print(f'{args.out}: {args.width}x{args.height} at {args.mpp} um/px, '
          f'{args.levels} levels')


if __name__ == '__main__':
    main()
