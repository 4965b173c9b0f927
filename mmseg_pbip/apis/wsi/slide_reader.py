"""Read whole slides (OpenSlide, tiffslide) and plain images alike."""
import os
import os.path as osp
from typing import List, Optional, Tuple

import numpy as np
from PIL import Image

# Plain images are read whole; beyond this many pixels Pillow refuses them
# as a decompression bomb, so the limit is raised for slides saved as PNG.
Image.MAX_IMAGE_PIXELS = None
PLAIN_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp')


class SlideError(ValueError):
    """A slide that cannot be used, with the file and the reason."""


class SlideReader:
    """One slide, its levels and its resolution, through one interface.

    Opened with OpenSlide (``openslide-python`` with the ``openslide-bin``
    wheel: Aperio, Hamamatsu, Leica, MIRAX, Philips, Sakura, Trestle,
    Ventana, generic tiled TIFF, DICOM), else with ``tiffslide`` (plain or
    pyramidal TIFF, SVS), else as a plain image (PNG, JPEG, untiled TIFF)
    with one level. The base resolution comes from the slide's metadata
    (``openslide.mpp-x``, ``tiffslide.mpp-x``, TIFF resolution tags) unless
    ``slide_mpp`` is given.

    Every process uses its own handle: a data-loader worker (forked or
    spawned) reopens the slide before its first read, since a forked copy
    of the parent's handle would share its file offset.

    Args:
        path (str): The slide file.
        slide_mpp (float, optional): Micrometres per pixel at level 0, for
            slides whose metadata lacks it (or to override it).
    """

    def __init__(self, path: str, slide_mpp: Optional[float] = None) -> None:
        if not osp.isfile(path):
            raise SlideError(f'{path}: slide file not found')
        self.path = path
        self._handle = None
        self._image = None
        self.backend = None
        self._open()
        self._pid = os.getpid()
        self.mpp = float(slide_mpp) if slide_mpp else self._metadata_mpp()

    # -- opening -----------------------------------------------------------
    def _open(self) -> None:
        errors = []
        if not self.path.lower().endswith(PLAIN_SUFFIXES):
            for name in ('openslide', 'tiffslide'):
                try:
                    self._handle = self._open_with(name)
                    self.backend = name
                    break
                except Exception as e:  # each library has its own errors
                    errors.append(f'{name}: {e}')
        if self._handle is None:
            try:
                with Image.open(self.path) as img:
                    img.load()
                    self._image = np.asarray(img.convert('RGB'))
                    self._image_dpi = img.info.get('dpi')
                self.backend = 'pillow'
            except Exception as e:
                errors.append(f'pillow: {e}')
                raise SlideError(
                    f'{self.path}: unsupported or unreadable slide (' +
                    '; '.join(errors) + ')') from None

    def _open_with(self, name: str):
        if name == 'openslide':
            import openslide
            return openslide.OpenSlide(self.path)
        import tiffslide
        return tiffslide.TiffSlide(self.path)

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

    # -- geometry ----------------------------------------------------------
    def _metadata_mpp(self) -> Optional[float]:
        if self._handle is not None:
            props = self._handle.properties
            for key in (f'{self.backend}.mpp-x', 'openslide.mpp-x',
                        'tiffslide.mpp-x'):
                value = props.get(key)
                if value not in (None, ''):
                    try:
                        value = float(value)
                    except ValueError:
                        continue
                    if value > 0:
                        return value
            return None
        dpi = self._image_dpi
        if dpi and dpi[0] and dpi[0] > 1:  # Pillow: dots per inch
            return 25400. / float(dpi[0])
        return None

    @property
    def level_dimensions(self) -> List[Tuple[int, int]]:
        """(width, height) of every level."""
        if self._handle is not None:
            return [tuple(map(int, d)) for d in self._handle.level_dimensions]
        return [(self._image.shape[1], self._image.shape[0])]

    @property
    def level_downsamples(self) -> List[float]:
        """Downsample of every level relative to level 0."""
        if self._handle is not None:
            return [float(d) for d in self._handle.level_downsamples]
        return [1.0]

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
        if self._handle is not None:
            region = self._handle.read_region((int(x), int(y)), level,
                                              (int(w), int(h)))
            rgba = np.asarray(region.convert('RGBA'), dtype=np.float32)
            alpha = rgba[..., 3:] / 255.  # transparent outside the slide
            rgb = rgba[..., :3] * alpha + 255. * (1 - alpha)
            rgb = np.round(rgb).astype(np.uint8)
        else:
            rgb = np.full((h, w, 3), 255, np.uint8)
            img = self._image
            x1, y1 = min(x + w, img.shape[1]), min(y + h, img.shape[0])
            if x1 > x and y1 > y:
                rgb[:y1 - y, :x1 - x] = img[y:y1, x:x1]
        if out_size is not None and tuple(out_size) != (w, h):
            import cv2
            rgb = cv2.resize(
                rgb,
                tuple(int(v) for v in out_size),
                interpolation=cv2.INTER_AREA)
        return rgb

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
