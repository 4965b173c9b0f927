"""Map a whole slide with a trained segmentor, tile by tile, resumably."""
import json
import os
import os.path as osp
import shutil
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmseg.structures import SegDataSample
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ...models.segmentors import without_test_views
from ...utils import atomic_path, require_extra
from .exporters import (class_pixel_counts, write_area_table, write_geojson,
                        write_label_tiff, write_overview)
from .slide_reader import SlideReader
from .tiling import SlideGrid, blend_window, make_grid, read_tile, tissue_tiles
from .tissue_mask import tissue_mask

OUTPUTS = ('mask.tiff', 'overview.png', 'annotations.geojson', 'areas.csv')


class TileDataset(Dataset):
    """Tiles of a slide as the model's loading pipeline gives images:

    ``[3, T, T]`` uint8 in BGR order (as OpenCV decodes training patches;
    the data preprocessor then converts as it was trained to).
    """

    def __init__(self, reader: SlideReader, grid: SlideGrid,
                 tiles: Sequence) -> None:
        self.reader, self.grid, self.tiles = reader, grid, list(tiles)

    def __len__(self) -> int:
        return len(self.tiles)

    def __getitem__(self, i: int):
        row, col = self.tiles[i]
        rgb = read_tile(self.reader, self.grid, row, col)
        return torch.from_numpy(
            np.ascontiguousarray(rgb[..., ::-1].transpose(2, 0, 1)))


def _collate(items):
    return list(items)


class TileScorer:
    """Per-class scores of a batch of tiles at the output resolution.

    Stage-two models (MMSeg segmentors): the softmax of ``seg_logits``.
    Weakly supervised CAM models (:class:`WSSSCAMSegmentor`, no image-level
    label on a slide): the fused CAMs of all tissue classes, in [0, 1],
    plus a constant background channel at the model's ``bg_score`` (PSCL)
    or 0 (PBIP: never background, glass is left to the tissue mask).

    Args:
        model: A segmentor in eval mode.
        num_labels (int): Labels of the output (tissue + background).
        background_index (int): The background label.
        out_down (int): Output pixels are ``out_down`` model pixels wide.
    """

    def __init__(self, model, num_labels: int, background_index: int,
                 out_down: int) -> None:
        from ...models.segmentors.wsss_cam_segmentor import WSSSCAMSegmentor
        self.model = model
        self.cam = isinstance(model, WSSSCAMSegmentor)
        self.num_labels = num_labels
        self.background_index = background_index
        self.out_down = out_down

    @torch.no_grad()
    def __call__(self, images: List[torch.Tensor]) -> np.ndarray:
        size = tuple(images[0].shape[-2:])
        samples = [
            SegDataSample(
                metainfo=dict(img_shape=size, ori_shape=size, pad_shape=size))
            for _ in images
        ]
        data = self.model.data_preprocessor(
            dict(inputs=images, data_samples=samples), False)
        out = self.model.predict(data['inputs'], data['data_samples'])
        logits = torch.stack([s.seg_logits.data for s in out]).float()
        if self.cam:
            scores = logits.new_zeros((len(out), self.num_labels) +
                                      logits.shape[-2:])
            tissue = [
                i for i in range(self.num_labels) if i != self.background_index
            ]
            scores[:, tissue] = logits
            scores[:, self.background_index] = float(
                getattr(self.model, 'bg_score', None) or 0.)
        else:
            if logits.shape[1] != self.num_labels:
                raise ValueError(
                    f'the model predicts {logits.shape[1]} labels, the '
                    f'config names {self.num_labels}')
            scores = logits.softmax(1)
        if self.out_down > 1:
            scores = F.avg_pool2d(scores, self.out_down)
        return scores.cpu().numpy()


def _settings_key(settings: dict) -> str:
    return json.dumps(settings, sort_keys=True, default=str)


def infer_slide(model,
                slide: str,
                out_dir: str,
                classes: Sequence[str],
                palette: Sequence[Sequence[int]],
                background_index: int,
                mpp: Optional[float] = None,
                slide_mpp: Optional[float] = None,
                level: Optional[int] = None,
                tile: int = 224,
                overlap: int = 32,
                out_down: int = 4,
                window: str = 'gaussian',
                batch_size: int = 8,
                num_workers: int = 2,
                min_area: float = 0.,
                thumb_side: int = 2048,
                overwrite: bool = False,
                progress: bool = True,
                on_batch: Optional[Callable[[int], None]] = None,
                settings: Optional[dict] = None,
                upsample: bool = True) -> Dict:
    """Map one slide; write its mask, overview, GeoJSON and area table.

    Steps: the tissue mask of a thumbnail (:func:`tissue_mask`) chooses the
    tiles (:func:`tissue_tiles`; tiles that touch no tissue are never
    read); the tiles, ``tile`` x ``tile`` pixels at ``mpp`` (or ``level``)
    and overlapping by ``overlap``, are read by ``num_workers`` data-loader
    processes in batches, scored (:class:`TileScorer`), reduced to the
    output resolution (``out_down``) and blended with a ``window`` of
    weights into per-class accumulators; the label map is their argmax,
    background where no tile scored or the tissue mask is empty.

    Memory is bounded by the output width: the accumulators hold one band
    of tile rows; rows below the band are final and go to a disk-backed
    label map (``out_dir/work/labels.npy``). After each band the state is
    saved atomically and the scores of finished batches are kept in
    ``out_dir/work/batches`` until their rows are final, so a killed run
    restarts where it stopped, recomputes no finished batch, and ends with
    the same outputs as an uninterrupted one.

    Outputs (``out_dir``): ``mask.tiff`` (pyramidal, palette, class
    indices), ``overview.png``, ``annotations.geojson`` (QuPath, level-0
    coordinates), ``areas.csv``, and last ``done.json`` (the settings key):
    a rerun with the same settings skips the slide, one with others is
    refused unless ``overwrite``.

    Args:
        model: Segmentor in eval mode (stage one or two), predicting as
            built (:func:`load_segmentor`: a CAM model with or without its
            test-time views).
        slide (str): Slide file.
        out_dir (str): Output folder of this slide.
        classes, palette: Labels of the output and their colours
            (tissue classes and the background).
        background_index (int): The background label.
        mpp, slide_mpp, level: See :func:`make_grid`,
            :class:`SlideReader`.
        tile, overlap, out_down, window: Tiling and blending.
        batch_size, num_workers: Data loading.
        min_area (float): Smallest polygon part kept in the GeoJSON, um^2
            (level-0 pixels^2 without a resolution).
        thumb_side (int): Longest side of the thumbnail for tissue
            detection and the overview.
        overwrite (bool): Start again even if outputs or a saved state
            exist.
        progress (bool): Show a progress bar over tiles.
        on_batch (callable, optional): Called with the number of tiles
            computed in this run, after each batch (tests, progress hooks).
        settings (dict, optional): What else identifies the run (config,
            checkpoint, test-time views); a saved state of other settings is
            refused.
        upsample (bool): Map a slide coarser than ``mpp`` upsampled from
            its level 0, with a warning, rather than refuse it (see
            :func:`make_grid`). Defaults to True.

    Returns:
        dict: ``skipped`` (finished before), the resolutions
        (:func:`slide_info`), the output paths and, unless skipped,
        ``tiles``, ``tissue_tiles``, ``computed_tiles``, ``seconds``,
        ``out_size``, ``counts``, ``features``. Nothing is written for a
        slide that cannot be opened or mapped at ``mpp`` (no folder).
    """
    require_extra('wsi')  # every output needs it: fail before mapping
    start = time.time()
    paths = {name: osp.join(out_dir, name) for name in OUTPUTS}
    work = osp.join(out_dir, 'work')
    done_path = osp.join(out_dir, 'done.json')
    reader = SlideReader(slide, slide_mpp)
    try:
        grid = make_grid(reader, tile, overlap, out_down, mpp, level, upsample)
        info = slide_info(reader, grid)
        thumb, thumb_down = reader.thumbnail(thumb_side)
        mask = tissue_mask(thumb)
        tiles = tissue_tiles(grid, mask, thumb_down)
        key = _settings_key(
            dict(
                settings or {},
                slide=osp.abspath(slide),
                tile=tile,
                overlap=overlap,
                out_down=out_down,
                window=window,
                level=grid.level,
                model_down=grid.model_down,
                batch_size=batch_size,
                tiles=len(tiles)))
        if _done_before(out_dir, key, paths, overwrite):
            print_log(
                f'{slide}: done before, outputs in {out_dir}',
                logger='current')
            return dict(skipped=True, **info, **paths)
        stats = _map_slide(model, reader, grid, tiles, thumb, thumb_down, mask,
                           key, work, paths, classes, palette,
                           background_index, window, batch_size, num_workers,
                           min_area, progress, on_batch)
        with atomic_path(done_path) as tmp, open(tmp, 'w') as f:
            json.dump(dict(key=key), f)
        _remove_folder(work)
    finally:
        reader.close()
    return dict(
        stats, skipped=False, seconds=time.time() - start, **info, **paths)


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


def _map_slide(model, reader, grid, tiles, thumb, thumb_down, mask, key, work,
               paths, classes, palette, background_index, window, batch_size,
               num_workers, min_area, progress, on_batch):
    """The tile loop and the exports of :func:`infer_slide`."""
    os.makedirs(osp.join(work, 'batches'), exist_ok=True)
    out_w, out_h = grid.out_size
    t, s = grid.out_tile, grid.out_stride
    num_labels = len(classes)
    state_path = osp.join(work, 'state.npz')
    labels_path = osp.join(work, 'labels.npy')
    if osp.isfile(state_path):
        with np.load(state_path) as state:
            if str(state['key']) != key:
                raise ValueError(
                    f'{osp.dirname(work)}: holds an interrupted run with '
                    'other settings; remove it or pass --overwrite')
            next_row = int(state['next_row'])
            acc, wsum = state['acc'], state['wsum']
        labels = np.lib.format.open_memmap(labels_path, mode='r+')
    else:
        next_row = 0
        acc = np.zeros((num_labels, t, grid.out_grid_width), np.float32)
        wsum = np.zeros((t, grid.out_grid_width), np.float32)
        labels = np.lib.format.open_memmap(
            labels_path, mode='w+', dtype=np.uint8, shape=(out_h, out_w))
        # a sparse map whose disk fills up kills the process (SIGBUS) at
        # the first write; reserving its blocks fails here, as an OSError
        with open(labels_path, 'r+b') as f:
            os.posix_fallocate(f.fileno(), 0, osp.getsize(labels_path))

    # tissue at the output resolution, one band of rows at a time
    mask_cols = ((np.arange(out_w) + 0.5) * grid.out_to_level0 /
                 thumb_down).astype(int).clip(0, mask.shape[1] - 1)

    def tissue_rows(y0, y1):
        ys = ((np.arange(y0, y1) + 0.5) * grid.out_to_level0 /
              thumb_down).astype(int).clip(0, mask.shape[0] - 1)
        return mask[ys][:, mask_cols]

    weight = blend_window(t, window)
    batches = [
        tiles[i:i + batch_size] for i in range(0, len(tiles), batch_size)
    ]
    batch_of = {}
    for b, members in enumerate(batches):
        for j, rc in enumerate(members):
            batch_of[rc] = (b, j)
    by_row = [[] for _ in range(grid.rows)]
    for rc in tiles:
        by_row[rc[0]].append(rc)

    def batch_file(b):
        return osp.join(work, 'batches', f'{b:07d}.npy')

    first = by_row[next_row:]
    needed = sorted({batch_of[rc][0] for row in first for rc in row})
    todo = [b for b in needed if not osp.isfile(batch_file(b))]
    position = {rc: i for i, rc in enumerate(tiles)}
    loader = DataLoader(
        TileDataset(reader, grid, tiles),
        batch_sampler=[[position[rc] for rc in batches[b]] for b in todo],
        num_workers=num_workers if todo else 0,
        collate_fn=_collate)
    loader_iter = iter(loader)
    scorer = TileScorer(model, num_labels, background_index, grid.out_down)
    cache = {}
    computed = 0
    done_tiles = sum(len(row) for row in by_row[:next_row])
    bar = tqdm(
        total=len(tiles),
        initial=done_tiles,
        unit='tile',
        desc=osp.basename(reader.path),
        disable=not progress)

    def batch_scores(b):
        nonlocal computed
        if b not in cache:
            if osp.isfile(batch_file(b)):
                cache[b] = np.load(batch_file(b))
            else:
                images = next(loader_iter)
                scores = scorer(images)
                with atomic_path(batch_file(b)) as tmp:
                    np.save(tmp, scores)  # '.tmp-<b>.npy': no suffix added
                cache[b] = scores
                computed += len(images)
                if on_batch is not None:
                    on_batch(computed)
        return cache[b]

    for row in range(next_row, grid.rows):
        for rc in by_row[row]:
            b, j = batch_of[rc]
            x = rc[1] * s
            acc[:, :, x:x + t] += batch_scores(b)[j] * weight
            wsum[:, x:x + t] += weight
            bar.update(1)
        # rows above the next tile row are final
        last = row == grid.rows - 1
        n = t if last else s
        y0 = row * s
        y1 = min(y0 + n, out_h)
        if y1 > y0:
            band = acc[:, :y1 - y0, :out_w].argmax(0).astype(np.uint8)
            empty = (wsum[:y1 - y0, :out_w] == 0) | ~tissue_rows(y0, y1)
            band[empty] = background_index
            labels[y0:y1] = band
        acc = np.concatenate([acc[:, n:], np.zeros_like(acc[:, :n])], 1)
        wsum = np.concatenate([wsum[n:], np.zeros_like(wsum[:n])], 0)
        labels.flush()
        with atomic_path(state_path) as tmp:
            with open(tmp, 'wb') as f:
                np.savez(f, key=key, next_row=row + 1, acc=acc, wsum=wsum)
        # batches whose tiles are all final are no longer needed
        for b in list(cache):
            if all(rc[0] <= row for rc in batches[b]):
                del cache[b]
                if osp.isfile(batch_file(b)):
                    os.remove(batch_file(b))
    bar.close()
    loader_iter = None  # the data-loader workers end here

    counts = class_pixel_counts(labels, num_labels)
    tissue_px = counts.sum() - counts[background_index]
    fractions = counts / max(tissue_px, 1)
    scale = grid.out_to_level0
    min_area_px = min_area / reader.mpp**2 if reader.mpp else min_area
    write_label_tiff(paths['mask.tiff'], labels, palette, grid.out_mpp)
    write_overview(paths['overview.png'], thumb, labels, classes, palette,
                   background_index, fractions)
    features = write_geojson(paths['annotations.geojson'], labels, classes,
                             palette, background_index, scale, min_area_px)
    write_area_table(paths['areas.csv'], counts, classes, background_index,
                     grid.out_mpp)
    del labels
    return dict(
        tiles=grid.rows * grid.cols,
        tissue_tiles=len(tiles),
        computed_tiles=computed,
        out_size=(out_w, out_h),
        counts=counts.tolist(),
        features=features)


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
