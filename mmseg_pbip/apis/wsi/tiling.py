"""Where the tiles of a slide lie, and how much each pixel of a tile counts."""
import logging
import math
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np
from mmengine.logging import print_log

from .slide_reader import SlideError, SlideReader

WINDOWS = ('gaussian', 'ramp', 'flat')  # blending weights (blend_window)


@dataclass
class SlideGrid:
    """Tiles of one slide at the model's resolution, and the output grid.

    The model runs at ``model_down`` level-0 pixels per pixel (its target
    resolution); tiles of ``tile`` x ``tile`` model pixels start every
    ``stride = tile - overlap`` pixels, row by row, the last ones reaching
    past the slide (read as glass). Scores are accumulated at the output
    resolution, ``out_down`` model pixels per output pixel.
    """
    width: int  # slide extent at the model's resolution
    height: int
    model_down: float  # level-0 pixels per model pixel
    level: int  # level the tiles are read from
    level_down: float  # its downsample
    tile: int
    stride: int
    out_down: int
    model_mpp: Optional[float]
    cols: int = field(init=False)
    rows: int = field(init=False)

    def __post_init__(self):
        self.cols = max(1,
                        math.ceil((self.width - self.tile) / self.stride) + 1)
        self.rows = max(1,
                        math.ceil((self.height - self.tile) / self.stride) + 1)

    @property
    def out_tile(self) -> int:
        """Tile side at the output resolution."""
        return self.tile // self.out_down

    @property
    def out_stride(self) -> int:
        return self.stride // self.out_down

    @property
    def out_size(self) -> Tuple[int, int]:
        """(width, height) of the output mask."""
        return (math.ceil(self.width / self.out_down),
                math.ceil(self.height / self.out_down))

    @property
    def out_grid_width(self) -> int:
        """Width covered by the tile grid at the output resolution."""
        return (self.cols - 1) * self.out_stride + self.out_tile

    @property
    def out_mpp(self) -> Optional[float]:
        return None if self.model_mpp is None else \
            self.model_mpp * self.out_down

    @property
    def out_to_level0(self) -> float:
        """Level-0 pixels per output pixel."""
        return self.model_down * self.out_down

    def origin(self, row: int, col: int) -> Tuple[int, int]:
        """Top-left of a tile in level-0 pixels."""
        return (int(round(col * self.stride * self.model_down)),
                int(round(row * self.stride * self.model_down)))

    @property
    def upsampling(self) -> float:
        """Enlargement of the level read to the model (1.0: none)."""
        return max(self.level_down / self.model_down, 1.0)

    @property
    def read_size(self) -> int:
        """Tile side at the level read (without upsampling)."""
        return max(1,
                   int(round(self.tile * self.model_down / self.level_down)))


def make_grid(reader: SlideReader,
              tile: int,
              overlap: int,
              out_down: int,
              mpp: Optional[float] = None,
              level: Optional[int] = None,
              upsample: bool = True) -> SlideGrid:
    """Choose the level and lay out the tiles.

    At ``mpp``, the tiles are read from the coarsest level that needs no
    upsampling and resized to the model's resolution. A slide whose finest
    level is coarser than ``mpp`` is read from level 0 and upsampled, with
    a warning that states both resolutions (``upsample=False`` refuses it
    instead).

    Args:
        reader (SlideReader): The slide.
        tile (int): Tile side at the model's resolution.
        overlap (int): Overlap of neighbouring tiles.
        out_down (int): Model pixels per output pixel; divides ``tile``
            and ``overlap``.
        mpp (float, optional): Resolution the model runs at (um/px); the
            slide's base resolution must be known.
        level (int, optional): Run on this level as it is instead.
        upsample (bool): Map a slide coarser than ``mpp`` from its level 0
            upsampled (with a warning) rather than refuse it. Defaults to
            True.

    Raises:
        SlideError: naming the slide, when neither a level nor a usable
            resolution is given, or the numbers do not fit.
    """
    check_tiling(tile, overlap, out_down)
    if level is not None:
        model_down, level, model_mpp = _level_as_is(reader, level)
    else:
        model_down, level, model_mpp = _level_for_mpp(reader, mpp, upsample)
    w0, h0 = reader.dimensions
    return SlideGrid(
        width=math.ceil(w0 / model_down),
        height=math.ceil(h0 / model_down),
        model_down=model_down,
        level=level,
        level_down=reader.level_downsamples[level],
        tile=tile,
        stride=tile - overlap,
        out_down=out_down,
        model_mpp=model_mpp)


def check_tiling(tile: int, overlap: int, out_down: int) -> None:
    """Refuse tiling numbers that do not fit (see :func:`make_grid`).

    Raises:
        ValueError: naming the numbers.
    """
    if out_down < 1:
        raise ValueError(
            f'the output downsample must be at least 1, got {out_down}')
    if tile % out_down or overlap % out_down:
        raise ValueError(f'tile ({tile}) and overlap ({overlap}) must be '
                         f'multiples of the output downsample ({out_down})')
    if not 0 <= overlap < tile:
        raise ValueError(f'overlap {overlap} must be in [0, tile={tile})')


def _level_as_is(reader: SlideReader, level: int) -> tuple:
    """(model_down, level, model_mpp) of running on ``level`` as it is."""
    downs = reader.level_downsamples
    if not 0 <= level < len(downs):
        raise SlideError(f'{reader.path}: level {level} does not exist '
                         f'(the slide has {len(downs)})')
    model_mpp = None if reader.mpp is None else reader.mpp * downs[level]
    return downs[level], level, model_mpp


def _level_for_mpp(reader: SlideReader, mpp: Optional[float],
                   upsample: bool) -> tuple:
    """(model_down, level, model_mpp) of running at ``mpp`` um/px."""
    if mpp is None:
        raise SlideError(
            f'{reader.path}: no target resolution: give --mpp (um per '
            'pixel the model was trained at) or --level')
    if reader.mpp is None:
        raise SlideError(
            f'{reader.path}: the slide has no resolution metadata (mpp)'
            f'{reader.mpp_note}; give its level-0 resolution with '
            '--slide-mpp, or choose a level with --level')
    model_down = mpp / reader.mpp
    if model_down < 1 - 1e-3:
        coarser = (f'{reader.path}: its finest level is {reader.mpp:g} '
                   f'um/px, coarser than the model\'s {mpp:g} um/px: the '
                   f'model expects pixels {1 / model_down:.2f}x finer')
        if not upsample:
            raise SlideError(
                f'{coarser}; refused (--no-upsample): map it upsampled '
                f'without --no-upsample, or at the slide\'s own resolution '
                f'with --mpp {reader.mpp:g}')
        print_log(
            f'{coarser}; mapping level 0 upsampled {1 / model_down:.2f}x '
            '(detail finer than the scan is not recovered; --no-upsample '
            'refuses such slides)',
            logger='current',
            level=logging.WARNING)
    return model_down, reader.level_for(model_down), mpp


def read_tile(reader: SlideReader, grid: SlideGrid, row: int,
              col: int) -> np.ndarray:
    """RGB pixels of one tile at the model's resolution.

    Downsampling (or none): the tile's level-0 square, rounded to whole
    pixels, is read at ``grid.level`` and resized (area). Upsampling: the
    tile spans fractions of level pixels, so a slightly larger region is
    read and resampled (bicubic) so that model pixel ``i`` of the tile
    lies exactly at level-0 ``(col * stride + i) * model_down`` (no
    rounding: the output map and its exports stay aligned to level 0).

    Returns:
        np.ndarray: ``[tile, tile, 3]`` uint8.
    """
    scale = grid.model_down / grid.level_down  # level pixels per model px
    if scale >= 1 - 1e-3:
        x, y = grid.origin(row, col)
        size = grid.read_size
        return reader.read(x, y, grid.level, (size, size),
                           (grid.tile, grid.tile))
    import cv2
    fx, fy = col * grid.stride * scale, row * grid.stride * scale
    x0, y0 = math.floor(fx) - 2, math.floor(fy) - 2  # bicubic support
    side = math.ceil(grid.tile * scale) + 5
    region = reader.read(
        int(round(x0 * grid.level_down)), int(round(y0 * grid.level_down)),
        grid.level, (side, side))
    # model pixel i (centre i + 0.5) from level pixel index
    # f + (i + 0.5) * scale - 0.5, in the region's indices
    shift = 0.5 * scale - 0.5
    matrix = np.array([[scale, 0, fx - x0 + shift],
                       [0, scale, fy - y0 + shift]])
    return cv2.warpAffine(
        region,
        matrix, (grid.tile, grid.tile),
        flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE)


def tissue_tiles(grid: SlideGrid, mask: np.ndarray,
                 mask_down: float) -> List[Tuple[int, int]]:
    """(row, col) of the tiles that touch tissue, row-major.

    Args:
        mask (np.ndarray): ``[h, w]`` bool tissue mask of the thumbnail.
        mask_down (float): Level-0 pixels per mask pixel.
    """
    integral = np.pad(
        mask.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    h, w = mask.shape
    side = grid.tile * grid.model_down / mask_down
    out = []
    for r in range(grid.rows):
        for c in range(grid.cols):
            x, y = grid.origin(r, c)
            x0 = min(int(x / mask_down), w)
            y0 = min(int(y / mask_down), h)
            x1 = min(int(math.ceil(x / mask_down + side)), w)
            y1 = min(int(math.ceil(y / mask_down + side)), h)
            if x1 > x0 and y1 > y0 and (integral[y1, x1] - integral[y0, x1] -
                                        integral[y1, x0] +
                                        integral[y0, x0]) > 0:
                out.append((r, c))
    return out


def blend_window(size: int, kind: str = 'gaussian') -> np.ndarray:
    """Weights of a tile's pixels when overlapping tiles are blended.

    ``'gaussian'``: ``exp(-d^2 / (2 sigma^2))`` with ``sigma = size / 4``
    (d from the centre, separable), floored at 1e-3 so that the border of
    the slide, covered by one tile, still counts; ``'ramp'``: linear from
    the border to the centre (separable triangle, floor 1e-3); ``'flat'``:
    all ones (plain averaging).

    Returns:
        np.ndarray: ``[size, size]`` float32.
    """
    pos = np.arange(size, dtype=np.float64) + 0.5 - size / 2
    if kind == 'gaussian':
        one = np.exp(-pos**2 / (2 * (size / 4)**2))
    elif kind == 'ramp':
        one = 1 - np.abs(pos) / (size / 2)
    elif kind == 'flat':
        one = np.ones(size)
    else:
        raise ValueError(
            f"blend window must be 'gaussian', 'ramp' or 'flat', got {kind!r}")
    return np.maximum(np.outer(one, one), 1e-3).astype(np.float32)
