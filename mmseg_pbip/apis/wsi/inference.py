"""Map a whole slide with a trained segmentor, tile by tile, resumably.

The pieces: :class:`SlideSettings` (``settings.py``) holds a run's knobs,
checked once, and gives the resume key; :class:`SlideMapper` holds the
model, its labels and the settings, and maps one slide per call: its plan
(grid, tissue, tiles, key), the tile loop (:class:`TileLoop` in
``tile_loop.py``: batches scored and blended band by band into a
disk-backed label map, resumably) and the exports; :func:`infer_slide` is
one slide with keyword settings. A tool mapping many slides makes one
mapper (``tools/infer_wsi.py``).
"""
import dataclasses
import json
import os
import os.path as osp
import shutil
import time
from typing import Callable, Dict, Optional, Sequence

import numpy as np
from mmengine.logging import print_log

from ...models.segmentors import WSSSCAMSegmentor, without_test_views
from ...utils import atomic_path, require_extra
from .exporters import (class_pixel_counts, write_area_table, write_geojson,
                        write_label_tiff, write_overview)
from .settings import SlideSettings
from .slide_reader import SlideReader
from .tile_loop import SlidePlan, TileLoop, TileScorer
from .tiling import SlideGrid, make_grid, tissue_tiles
from .tissue_mask import tissue_mask

OUTPUTS = ('mask.tiff', 'overview.png', 'annotations.geojson', 'areas.csv')


class SlideMapper:
    """Maps slides with one model and one run's settings.

    Per slide: the tissue mask of a thumbnail (:func:`tissue_mask`) chooses
    the tiles (:func:`tissue_tiles`; tiles that touch no tissue are never
    read); the tiles, ``tile`` x ``tile`` pixels at ``mpp`` (or ``level``)
    and overlapping by ``overlap``, are read in batches, scored
    (:class:`TileScorer`), reduced to the output resolution (``out_down``)
    and blended into a label map (:class:`TileLoop`: memory bounded by the
    output width; a killed run restarts where it stopped, recomputes no
    finished batch, and ends with the same outputs as an uninterrupted
    one).

    Outputs (``out_dir``): ``mask.tiff`` (pyramidal, palette, class
    indices), ``overview.png``, ``annotations.geojson`` (QuPath, level-0
    coordinates), ``areas.csv``, and last ``done.json`` (the resume key,
    :meth:`SlideSettings.resume_key`, whose identity also records a CAM
    model's test-time views): a rerun with the same settings skips the
    slide, one with others is refused unless ``overwrite``.

    Args:
        model: Segmentor in eval mode (stage one or two), predicting as
            built (:func:`load_segmentor`: a CAM model with or without its
            test-time views).
        classes (Sequence[str]): Labels of the output (tissue classes and
            the background).
        palette (Sequence[Sequence[int]]): Their RGB colours.
        background_index (int): The background label.
        settings (SlideSettings, optional): The run's settings. Defaults to
            ``SlideSettings()``.
    """

    def __init__(self,
                 model,
                 classes: Sequence[str],
                 palette: Sequence[Sequence[int]],
                 background_index: int,
                 settings: Optional[SlideSettings] = None) -> None:
        require_extra('wsi')  # every output needs it: fail before mapping
        self.settings = settings or SlideSettings()
        if isinstance(model, WSSSCAMSegmentor):  # its views change the scores
            self.settings = dataclasses.replace(
                self.settings,
                identity=dict(
                    self.settings.identity,
                    test_views=[model.tta_flips, model.tta_intensities]))
        self.model, self.classes, self.palette = model, classes, palette
        self.background_index = background_index
        self.scorer = TileScorer(model, len(classes), background_index,
                                 self.settings.out_down)

    def __call__(self,
                 slide: str,
                 out_dir: str,
                 on_batch: Optional[Callable[[int], None]] = None) -> Dict:
        """Map one slide; write its mask, overview, GeoJSON and area table.

        Args:
            slide (str): Slide file.
            out_dir (str): Output folder of this slide.
            on_batch (callable, optional): Called with the number of tiles
                computed in this run, after each batch (tests, progress
                hooks).

        Returns:
            dict: ``skipped`` (finished before), the resolutions
            (:func:`slide_info`), the output paths and, unless skipped,
            ``tiles``, ``tissue_tiles``, ``computed_tiles``, ``seconds``,
            ``out_size``, ``counts``, ``features``. Nothing is written for a
            slide that cannot be opened or mapped at ``mpp`` (no folder).
        """
        start = time.time()
        paths = {name: osp.join(out_dir, name) for name in OUTPUTS}
        work = osp.join(out_dir, 'work')
        reader = SlideReader(slide, self.settings.slide_mpp)
        try:
            plan = self.plan(slide, reader)
            info = slide_info(reader, plan.grid)
            if _done_before(out_dir, plan.key, paths, self.settings.overwrite):
                print_log(
                    f'{slide}: done before, outputs in {out_dir}',
                    logger='current')
                return dict(skipped=True, **info, **paths)
            stats = self.map(plan, work, paths, on_batch)
            done_path = osp.join(out_dir, 'done.json')
            with atomic_path(done_path) as tmp, open(tmp, 'w') as f:
                json.dump(dict(key=plan.key), f)
            _remove_folder(work)
        finally:
            reader.close()
        return dict(
            stats, skipped=False, seconds=time.time() - start, **info, **paths)

    def plan(self, slide: str, reader: SlideReader) -> SlidePlan:
        """Grid, thumbnail, tissue and tiles of an open slide, and the key.

        Raises:
            SlideError: The slide cannot be mapped with these settings
                (:func:`make_grid`).
        """
        s = self.settings
        grid = make_grid(reader, s.tile, s.overlap, s.out_down, s.mpp, s.level,
                         s.upsample)
        thumb, thumb_down = reader.thumbnail(s.thumb_side)
        mask = tissue_mask(thumb)
        tiles = tissue_tiles(grid, mask, thumb_down)
        return SlidePlan(reader, grid, tiles, thumb, thumb_down, mask,
                         s.resume_key(slide, grid, len(tiles)))

    def map(self,
            plan: SlidePlan,
            work: str,
            paths: Dict[str, str],
            on_batch: Optional[Callable[[int], None]] = None) -> Dict:
        """The tile loop (resumed from ``work`` if saved there) and the exports
        to ``paths``; the statistics of :meth:`__call__`."""
        loop = TileLoop(plan, self.scorer, self.settings, work, on_batch)
        labels = loop.run()
        counts, features = self.export(plan, labels, paths)
        del labels  # the memory map closes before its folder is removed
        grid = plan.grid
        return dict(
            tiles=grid.rows * grid.cols,
            tissue_tiles=len(plan.tiles),
            computed_tiles=loop.computed,
            out_size=grid.out_size,
            counts=counts.tolist(),
            features=features)

    def export(self, plan: SlidePlan, labels: np.ndarray,
               paths: Dict[str, str]) -> tuple:
        """Write the outputs of a label map ``[out_h, out_w]`` uint8.

        Returns:
            tuple[np.ndarray, int]: Pixels per label ``[L]``, and the
            features in the GeoJSON.
        """
        classes, palette = self.classes, self.palette
        bg = self.background_index
        counts = class_pixel_counts(labels, len(classes))
        fractions = counts / max(counts.sum() - counts[bg], 1)
        mpp, min_area = plan.reader.mpp, self.settings.min_area
        min_area_px = min_area / mpp**2 if mpp else min_area
        grid = plan.grid
        write_label_tiff(paths['mask.tiff'], labels, palette, grid.out_mpp)
        write_overview(paths['overview.png'], plan.thumb, labels, classes,
                       palette, bg, fractions)
        features = write_geojson(paths['annotations.geojson'], labels, classes,
                                 palette, bg, grid.out_to_level0, min_area_px)
        write_area_table(paths['areas.csv'], counts, classes, bg, grid.out_mpp)
        return counts, features


def infer_slide(model,
                slide: str,
                out_dir: str,
                classes: Sequence[str],
                palette: Sequence[Sequence[int]],
                background_index: int,
                on_batch: Optional[Callable[[int], None]] = None,
                **settings) -> Dict:
    """Map one slide: :class:`SlideMapper` with keyword settings.

    Args:
        model, classes, palette, background_index: See
            :class:`SlideMapper`.
        slide (str): Slide file.
        out_dir (str): Output folder of this slide.
        on_batch (callable, optional): Called with the number of tiles
            computed in this run, after each batch.
        **settings: The fields of :class:`SlideSettings` (``mpp``,
            ``tile``, ``overlap``, ..., ``identity``).

    Returns:
        dict: See :meth:`SlideMapper.__call__`.
    """
    mapper = SlideMapper(model, classes, palette, background_index,
                         SlideSettings(**settings))
    return mapper(slide, out_dir, on_batch)


def slide_info(reader: SlideReader, grid: SlideGrid) -> Dict:
    """What a slide was mapped at: ``slide_mpp`` (level 0), ``mpp_source``
    (``'metadata'`` or ``'slide_mpp'``), ``model_mpp``, ``level``,
    ``upsampling`` (1.0: none) and the reader's ``backend``."""
    return dict(
        slide_mpp=reader.mpp,
        mpp_source=reader.mpp_source,
        model_mpp=grid.model_mpp,
        level=grid.level,
        upsampling=grid.upsampling,
        backend=reader.backend)


def _done_before(out_dir: str, key: str, paths: Dict, overwrite: bool) -> bool:
    """Prepare ``out_dir`` for a run of settings ``key``; True if it holds that
    run's finished outputs (whose work folder is then removed).

    Raises:
        ValueError: ``out_dir`` holds the outputs of other settings (unless
            ``overwrite``, which removes them and any saved state).
    """
    work = osp.join(out_dir, 'work')
    done_path = osp.join(out_dir, 'done.json')
    os.makedirs(out_dir, exist_ok=True)
    # the remains of a cleanup that was interrupted
    shutil.rmtree(work + '.trash', ignore_errors=True)
    if overwrite:
        shutil.rmtree(work, ignore_errors=True)
        if osp.isfile(done_path):
            os.remove(done_path)
        return False
    if not osp.isfile(done_path):
        return False
    with open(done_path) as f:
        done_key = json.load(f).get('key')
    if done_key != key:
        raise ValueError(
            f'{out_dir}: holds the outputs of another run (other '
            'settings, checkpoint or slide of the same name); pass '
            'overwrite (--overwrite) or choose another folder')
    if all(osp.isfile(p) for p in paths.values()):
        _remove_folder(work)
        return True
    return False


def _remove_folder(folder: str) -> None:
    """Remove a folder so that an interruption leaves it whole or absent:
    an atomic rename first, then the deletion."""
    if osp.isdir(folder):
        os.rename(folder, folder + '.trash')
        shutil.rmtree(folder + '.trash', ignore_errors=True)


def load_segmentor(cfg,
                   checkpoint: str,
                   device: str = 'cpu',
                   tta: bool = False):
    """Build the config's model and load a trained checkpoint into it.

    The checkpoint is loaded safely (``weights_only``) and checked first:
    a checkpoint of other dataset classes or weight shapes is refused with
    a message naming it (:func:`checkpoint_mismatches`). A PBIP model's
    frozen prototype encoder is built without its pretrained files, which
    inference does not need: its weights (and the prototypes) come from
    the checkpoint.

    Args:
        cfg (Config): Full config.
        checkpoint (str): Trained checkpoint file.
        device (str): Device to put the model on.
        tta (bool): Keep a CAM model's test-time views (``tta_flips`` x
            ``tta_intensities``; several times slower); without, it predicts
            from one plain view (:func:`without_test_views`). Defaults to
            False.

    Returns:
        nn.Module: The segmentor in eval mode.
    """
    from mmengine.runner.checkpoint import _load_checkpoint_to_model
    from mmseg.registry import MODELS

    from ...datasets import config_metainfo
    from ...engine.hooks import checkpoint_mismatches
    from ...utils import safe_load
    model_cfg = cfg.model.copy() if tta else without_test_views(cfg.model)
    encoder = model_cfg.get('image_encoder')
    if encoder is not None:
        encoder = dict(encoder, allow_random_init=True)
        for key in ('checkpoint', 'swin_pretrained', 'pretrained'):
            if key in encoder:
                encoder[key] = None
        model_cfg['image_encoder'] = encoder
        print_log(
            'prototype encoder: built without its pretrained files; '
            'its weights come from the checkpoint',
            logger='current')
    model = MODELS.build(model_cfg)
    state = safe_load(checkpoint)
    meta = config_metainfo(cfg)
    problems = checkpoint_mismatches(model, state,
                                     list(meta['classes']) if meta else None)
    if problems:
        raise ValueError(f'{checkpoint} does not fit {cfg.filename}: ' +
                         '; '.join(problems[:6]))
    _load_checkpoint_to_model(model, state, strict=True)
    return model.to(device).eval()
