"""Slides held as one array: plain images, and TIFFs in large strips."""
import os
import os.path as osp
from typing import Optional, Tuple

import numpy as np
from PIL import Image

# Plain images are read whole; beyond this many pixels Pillow refuses them
# as a decompression bomb, so the limit is raised for slides saved as PNG.
Image.MAX_IMAGE_PIXELS = None

# A TIFF level stored in chunks (strips or tiles) of more pixels than this
# is not read chunk by chunk (every tile read would decode a whole chunk):
# it is memory-mapped from the file (uncompressed) or decoded once.
LARGE_CHUNK = 2**24


class ArrayImage:
    """One level of RGB pixels in an array, read region by region.

    A memory-mapped array (``np.memmap`` of a file that still exists) is
    pickled as its file name, so that a spawned worker process maps the
    same file instead of receiving a copy.

    Args:
        array (np.ndarray): ``[H, W, C]`` (RGB first, extra channels
            ignored) or ``[H, W]`` (grey) uint8, in memory or mapped.
        mpp (float, optional): Micrometres per pixel from the file's
            metadata.
    """

    def __init__(self, array: np.ndarray, mpp: Optional[float]) -> None:
        self.array = array
        self.mpp = mpp

    @property
    def dimensions(self) -> Tuple[int, int]:
        """(width, height)."""
        return int(self.array.shape[1]), int(self.array.shape[0])

    def read(self, x: int, y: int, w: int, h: int) -> np.ndarray:
        """``[h, w, 3]`` uint8 of the region at (x, y); white outside."""
        rgb = np.full((h, w, 3), 255, np.uint8)
        H, W = self.array.shape[:2]
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, W), min(y + h, H)
        if x1 > x0 and y1 > y0:
            part = np.asarray(self.array[y0:y1, x0:x1])
            part = part[..., None] if part.ndim == 2 else part[..., :3]
            rgb[y0 - y:y1 - y, x0 - x:x1 - x] = part
        return rgb

    def close(self) -> None:
        self.array = None

    def __getstate__(self):
        state = dict(self.__dict__)
        a = self.array
        if isinstance(a, np.memmap) and a.filename and osp.isfile(a.filename):
            state['array'] = ('memmap', a.filename, a.offset, a.shape,
                              a.dtype.str)
        return state

    def __setstate__(self, state):
        array = state['array']
        if isinstance(array, tuple):
            _, filename, offset, shape, dtype = array
            state['array'] = np.memmap(
                filename, dtype, 'r', offset=offset, shape=shape)
        self.__dict__.update(state)


def open_plain_image(path: str) -> ArrayImage:
    """Decode a PNG, JPEG, BMP (or any image Pillow reads) whole.

    These formats cannot be read region by region, so the whole image is
    decoded once and held in memory (3 bytes per pixel). The resolution comes
    from the file's dpi, when it has one.
    """
    with Image.open(path) as img:
        need = img.width * img.height * 11  # decoded, converted, copied
        free = os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
        if need > free:
            raise MemoryError(
                f'{path}: {img.width} x {img.height} pixels would take about '
                f'{need / 2**30:.1f} GiB to decode whole, more than the '
                f'{free / 2**30:.1f} GiB free; convert it to a tiled TIFF '
                '(e.g. vips tiffsave --tile --pyramid)')
        img.load()
        dpi = img.info.get('dpi')
        array = np.asarray(img if img.mode == 'RGB' else img.convert('RGB'))
    mpp = 25400. / float(dpi[0]) if dpi and dpi[0] and dpi[0] > 1 else None
    return ArrayImage(array, mpp)


def large_chunk_tiff(tiff) -> Optional[ArrayImage]:
    """A single-level TIFF whose chunks are too large to read one by one,
    as a mapped array; None for any other TIFF (tiled, pyramidal, or in
    small strips: ``tiffslide`` reads those chunk by chunk).

    Uncompressed data is memory-mapped from the file itself (nothing is
    decoded); compressed data is decoded once into a temporary memory-
    mapped file (``tifffile``'s ``out='memmap'``, in the temporary folder).

    Args:
        tiff (tifffile.TiffFile): The open file (``tiffslide``'s
            ``ts_tifffile``).
    """
    series = tiff.series[0]
    if len(series.levels) > 1:
        return None
    page = series.keyframe
    chunk = int(np.prod(page.chunks[:2]))
    if page.is_tiled or chunk <= LARGE_CHUNK:
        return None
    if page.dtype != np.uint8 or page.axes not in ('YXS', 'YX') or \
            page.photometric not in (1, 2):  # MINISBLACK, RGB
        return None  # left to tiffslide, whose error names the problem
    return ArrayImage(page.asarray(out='memmap'), None)
