"""The settings of a whole-slide run, checked once, and its resume key."""
import json
import os.path as osp
from dataclasses import dataclass, field
from typing import Optional

from .tiling import WINDOWS, SlideGrid, check_tiling


@dataclass
class SlideSettings:
    """How slides are mapped: one object per run, checked when made.

    Everything but the model and its labels (:class:`SlideMapper`), so
    that a run's knobs travel together and are checked before any slide is
    opened.

    Args:
        mpp (float, optional): Resolution the model runs at, um/px (see
            :func:`make_grid`).
        slide_mpp (float, optional): Level-0 um/px of slides whose
            metadata has none (see :class:`SlideReader`).
        level (int, optional): Run on this slide level as it is instead of
            at ``mpp``.
        tile (int): Tile side at the model's resolution. Defaults to 224.
        overlap (int): Overlap of neighbouring tiles. Defaults to 32.
        out_down (int): Model pixels per output pixel; divides ``tile`` and
            ``overlap``. Defaults to 4.
        window (str): Blending weights, ``'gaussian'``, ``'ramp'`` or
            ``'flat'`` (:func:`blend_window`). Defaults to ``'gaussian'``.
        batch_size (int): Tiles per forward pass. Defaults to 8.
        num_workers (int): Data-loader processes reading tiles. Defaults
            to 2.
        min_area (float): Smallest polygon part kept in the GeoJSON, um^2
            (level-0 pixels^2 without a resolution). Defaults to 0.
        thumb_side (int): Longest side of the thumbnail for tissue
            detection and the overview. Defaults to 2048.
        overwrite (bool): Start again even if outputs or a saved state
            exist. Defaults to False.
        progress (bool): Show a progress bar over tiles. Defaults to True.
        upsample (bool): Map a slide coarser than ``mpp`` upsampled from
            its level 0, with a warning, rather than refuse it (see
            :func:`make_grid`). Defaults to True.
        identity (dict): What else identifies the run (config, checkpoint,
            test-time views): part of the resume key, so that a saved
            state or outputs of another identity are refused. Defaults to
            an empty dict.

    Raises:
        ValueError: A setting out of its range, naming it.
    """
    mpp: Optional[float] = None
    slide_mpp: Optional[float] = None
    level: Optional[int] = None
    tile: int = 224
    overlap: int = 32
    out_down: int = 4
    window: str = 'gaussian'
    batch_size: int = 8
    num_workers: int = 2
    min_area: float = 0.
    thumb_side: int = 2048
    overwrite: bool = False
    progress: bool = True
    upsample: bool = True
    identity: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_tiling(self.tile, self.overlap, self.out_down)
        if self.window not in WINDOWS:
            raise ValueError(f'window must be one of {WINDOWS}, got '
                             f'{self.window!r}')
        for name in ('mpp', 'slide_mpp'):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f'{name} must be positive, got {value}')
        minimum = dict(
            level=0, batch_size=1, num_workers=0, min_area=0, thumb_side=1)
        for name, low in minimum.items():
            value = getattr(self, name)
            if value is not None and value < low:
                raise ValueError(f'{name} must be at least {low}, got {value}')
        self.identity = dict(self.identity or {})

    def resume_key(self, slide: str, grid: SlideGrid, num_tiles: int) -> str:
        """The JSON that identifies a run on one slide.

        Saved with the state (``work/state.npz``) and the finished outputs
        (``done.json``): a later run resumes or skips the slide only with
        the same key. It holds :attr:`identity`, the slide's absolute path,
        the settings that change the outputs or the batches (tiling,
        blending, batch size, the GeoJSON's ``min_area``) and what the slide
        resolved them to (level, model downsample, tiles on tissue); not the
        others (workers, progress; ``mpp``, ``slide_mpp``, ``upsample`` and
        ``thumb_side`` through what they resolve to).

        Args:
            slide (str): The slide file.
            grid (SlideGrid): Its tiles.
            num_tiles (int): Tiles on tissue.

        Returns:
            str: Keys sorted, values not JSON-native written as ``str``.
        """
        return json.dumps(
            dict(
                self.identity,
                slide=osp.abspath(slide),
                tile=self.tile,
                overlap=self.overlap,
                out_down=self.out_down,
                window=self.window,
                level=grid.level,
                model_down=grid.model_down,
                batch_size=self.batch_size,
                min_area=self.min_area,
                tiles=num_tiles),
            sort_keys=True,
            default=str)
