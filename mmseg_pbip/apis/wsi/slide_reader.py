"""Read whole slides (OpenSlide, tiffslide) and plain images alike."""
import math
import os
import os.path as osp
from typing import List, Optional, Tuple

import numpy as np

from ...utils import import_optional
from .array_image import large_chunk_tiff, open_plain_image

PLAIN_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp')
# The coarsest resolution (um/px) taken from a file's metadata: coarser
# values are screen or print defaults (72 dpi is 352.8 um/px), not scans
# (a 1.25x objective gives about 8 um/px).
MAX_METADATA_MPP = 16.


class SlideError(ValueError):
    """A slide that cannot be used, with the file and the reason."""


class SlideReader:
    """One slide, its levels and its resolution, through one interface.

    Opened with OpenSlide (``openslide-python`` with the ``openslide-bin``
    wheel: Aperio, Hamamatsu, Leica, MIRAX, Philips, Sakura, Trestle,
    Ventana, generic tiled TIFF, DICOM), else with ``tiffslide`` (TIFF of
    any layout it reads: pyramidal or not, tiled or in strips, read chunk
    by chunk), else as a plain image decoded whole with Pillow (PNG, JPEG,
    BMP) with one level. A single-level TIFF in chunks of more than
    ``LARGE_CHUNK`` pixels (e.g. one strip for the whole image) is
    memory-mapped from its file if uncompressed, else decoded once
    (:func:`large_chunk_tiff`).

    The base resolution comes from the slide's metadata
    (``openslide.mpp-x``, ``tiffslide.mpp-x``, TIFF resolution tags, a
    plain image's dpi); ``slide_mpp`` stands in for it where the metadata
    has none, or states one coarser than ``MAX_METADATA_MPP`` um/px (a
    screen or print default, not a scan).

    Every process uses its own handle: a data-loader worker (forked or
    spawned) reopens the slide before its first read, since a forked copy
    of the parent's handle would share its file offset.

    Args:
        path (str): The slide file.
        slide_mpp (float, optional): Micrometres per pixel at level 0, for
            slides whose metadata lacks it, and for PNG / JPEG / BMP images
            always (their dpi is not a microscope's resolution).

    Attributes:
        mpp (float | None): Level-0 um/px used.
        mpp_source (str | None): ``'metadata'`` or ``'slide_mpp'``.
        mpp_note (str): Why the metadata's resolution was not used, if it
            states an implausible one (for messages).
    """

    def __init__(self, path: str, slide_mpp: Optional[float] = None) -> None:
        if not osp.isfile(path):
            raise SlideError(f'{path}: slide file not found')
        self.path = path
        self._handle = None  # an OpenSlide or TiffSlide
        self._array = None  # an ArrayImage
        self.backend = None
        self._open()
        self._pid = os.getpid()
        metadata_mpp, self.mpp_note = self._metadata_mpp()
        if slide_mpp and (not metadata_mpp or self.backend == 'pillow'):
            # a PNG / JPEG's dpi is a print setting, not a microscope's
            self.mpp, self.mpp_source = float(slide_mpp), 'slide_mpp'
        elif metadata_mpp:
            self.mpp, self.mpp_source = metadata_mpp, 'metadata'
        else:
            self.mpp, self.mpp_source = None, None

    # -- opening -----------------------------------------------------------
    def _open(self) -> None:
        errors = []
        if not self.path.lower().endswith(PLAIN_SUFFIXES):
            # a missing 'wsi' extra is named, not reported as a bad slide
            import_optional('openslide')
            import_optional('tiffslide')
            for name in ('openslide', 'tiffslide'):
                try:
                    self._open_backend(name)
                    break
                except Exception as e:  # each library has its own errors
                    errors.append(f'{name}: {e}')
        if self.backend is None and _is_tiff(self.path):
            # never decoded whole: a TIFF the slide libraries cannot read
            # is reported, not handed to Pillow
            raise SlideError(f'{self.path}: unsupported or unreadable TIFF '
                             '(' + '; '.join(errors) + ')')
        if self.backend is None:
            try:
                self._array = open_plain_image(self.path)
                self.backend = 'pillow'
            except Exception as e:
                errors.append(f'pillow: {e}')
                raise SlideError(
                    f'{self.path}: unsupported or unreadable slide (' +
                    '; '.join(errors) + ')') from None

    def _open_backend(self, name: str) -> None:
        """Open with one library; raise if it cannot read the slide."""
        handle = self._open_with(name)
        try:
            if name == 'tiffslide':
                # a TIFF in huge chunks is read from one mapped array
                array = large_chunk_tiff(handle.ts_tifffile)
                if array is not None:
                    array.mpp = _positive(
                        handle.properties.get('tiffslide.mpp-x'))
                    handle.close()
                    self._array, self.backend = array, 'tifffile'
                    return
                # tiffslide opens lazily: fail here, not at the first tile
                handle.read_region((0, 0), 0, (1, 1))
        except Exception:
            handle.close()
            raise
        self._handle, self.backend = handle, name

    def _open_with(self, name: str):
        if name == 'openslide':
            return import_optional('openslide').OpenSlide(self.path)
        return import_optional('tiffslide').TiffSlide(self.path)

    def __getstate__(self):
        state = dict(self.__dict__)
        state['_handle'] = None  # reopened in the worker
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._own_handle()

    def _own_handle(self) -> None:
        """(Re)open the slide in this process if it is not its own."""
        if self.backend in ('openslide',
                            'tiffslide') and (self._handle is None
                                              or self._pid != os.getpid()):
            self._handle = self._open_with(self.backend)
            self._pid = os.getpid()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._array is not None:
            self._array.close()

    # -- geometry ----------------------------------------------------------
    def _metadata_mpp(self) -> Tuple[Optional[float], str]:
        """The metadata's level-0 um/px (None if absent or implausible) and a
        note on an implausible one."""
        value = None
        if self._array is not None:
            value = self._array.mpp
        else:
            props = self._handle.properties
            for key in (f'{self.backend}.mpp-x', 'openslide.mpp-x',
                        'tiffslide.mpp-x'):
                value = _positive(props.get(key))
                if value:
                    break
        if value and value > MAX_METADATA_MPP:
            return None, (f' (its metadata states {value:g} um/px, '
                          f'{25400 / value:.0f} dpi: a screen or print '
                          'default, not a scan)')
        return value, ''

    @property
    def level_dimensions(self) -> List[Tuple[int, int]]:
        """(width, height) of every level."""
        if self._array is not None:
            return [self._array.dimensions]
        return [tuple(map(int, d)) for d in self._handle.level_dimensions]

    @property
    def level_downsamples(self) -> List[float]:
        """Downsample of every level relative to level 0."""
        if self._array is not None:
            return [1.0]
        return [float(d) for d in self._handle.level_downsamples]

    @property
    def dimensions(self) -> Tuple[int, int]:
        """(width, height) of level 0."""
        return self.level_dimensions[0]

    def level_for(self, downsample: float) -> int:
        """The coarsest level whose downsample does not exceed ``downsample``
        (so reading it never upsamples)."""
        best = 0
        for i, d in enumerate(self.level_downsamples):
            if d <= downsample * (1 + 1e-3):
                best = i
        return best

    # -- pixels ------------------------------------------------------------
    def read(self,
             x: int,
             y: int,
             level: int,
             size: Tuple[int, int],
             out_size: Optional[Tuple[int, int]] = None) -> np.ndarray:
        """RGB pixels of a region; outside the slide is white glass.

        Args:
            x, y (int): Top-left corner in level-0 pixels.
            level (int): Level to read from.
            size (tuple[int, int]): (width, height) at ``level``.
            out_size (tuple[int, int], optional): Resize the region to this
                (width, height) (area interpolation).

        Returns:
            np.ndarray: ``[H, W, 3]`` uint8.
        """
        w, h = size
        self._own_handle()
        try:
            rgb = self._read_rgb(int(x), int(y), level, int(w), int(h))
        except Exception as e:  # each library has its own errors
            raise SlideError(
                f'{self.path}: cannot read level {level} at ({x}, {y}), '
                f'{w} x {h} pixels (a damaged or truncated file?): '
                f'{type(e).__name__}: {e}') from e
        if out_size is not None and tuple(out_size) != (w, h):
            import cv2
            rgb = cv2.resize(
                rgb,
                tuple(int(v) for v in out_size),
                interpolation=cv2.INTER_AREA)
        return rgb

    def _read_rgb(self, x: int, y: int, level: int, w: int,
                  h: int) -> np.ndarray:
        if self._array is not None:  # one level
            return self._array.read(x, y, w, h)
        region = self._handle.read_region((x, y), level, (w, h))
        rgba = np.asarray(region.convert('RGBA'), dtype=np.float32)
        alpha = rgba[..., 3:] / 255.  # transparent outside the slide
        rgb = np.round(rgba[..., :3] * alpha + 255. * (1 - alpha))
        rgb = rgb.astype(np.uint8)
        if self.backend == 'tiffslide':
            self._glass_outside(rgb, x, y, level)
        return rgb

    def _glass_outside(self, rgb: np.ndarray, x: int, y: int,
                       level: int) -> None:
        """Make white the part of a region outside the level (tiffslide pads an
        RGB slide with black there)."""
        d = self.level_downsamples[level]
        for axis, (origin, extent) in enumerate(
                zip((y / d, x / d), self.level_dimensions[level][::-1])):
            n = rgb.shape[axis]
            before = min(n, max(0, math.ceil(-origin)))
            after = max(0, math.ceil(extent - origin))
            index = [slice(None)] * 2
            for part in (slice(0, before), slice(after, n)):
                index[axis] = part
                rgb[tuple(index)] = 255

    def thumbnail(self,
                  max_side: int = 2048,
                  chunk: int = 4096) -> Tuple[np.ndarray, float]:
        """A low-resolution RGB view of the whole slide, read in chunks of at
        most ``chunk`` x ``chunk`` pixels of the nearest finer level (so memory
        stays bounded even for a slide without a pyramid).

        Returns:
            tuple[np.ndarray, float]: ``[h, w, 3]`` uint8 and its downsample
            relative to level 0.
        """
        import cv2
        w0, h0 = self.dimensions
        down = max(max(w0, h0) / float(max_side), 1.0)
        level = self.level_for(down)
        lw, lh = self.level_dimensions[level]
        ld = self.level_downsamples[level]
        out_w, out_h = max(1,
                           int(round(w0 / down))), max(1,
                                                       int(round(h0 / down)))
        thumb = np.empty((out_h, out_w, 3), np.uint8)
        step = chunk
        for ly in range(0, lh, step):
            for lx in range(0, lw, step):
                cw, ch = min(step, lw - lx), min(step, lh - ly)
                ox0, oy0 = int(round(lx * ld / down)), int(
                    round(ly * ld / down))
                ox1 = int(round((lx + cw) * ld / down))
                oy1 = int(round((ly + ch) * ld / down))
                if ox1 <= ox0 or oy1 <= oy0:
                    continue
                region = self.read(int(lx * ld), int(ly * ld), level, (cw, ch))
                thumb[oy0:oy1, ox0:ox1] = cv2.resize(
                    region, (ox1 - ox0, oy1 - oy0),
                    interpolation=cv2.INTER_AREA)
        return thumb, (w0 / out_w + h0 / out_h) / 2


def _positive(value) -> Optional[float]:
    """A metadata value as a positive float, else None."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def _is_tiff(path: str) -> bool:
    """Whether the file starts as a TIFF or BigTIFF does."""
    try:
        with open(path, 'rb') as f:
            head = f.read(4)
    except OSError:
        return False
    return head in (b'II*\x00', b'MM\x00*', b'II+\x00', b'MM\x00+')
