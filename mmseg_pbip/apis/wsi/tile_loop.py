"""The tiles of a slide scored batch by batch and blended band by band into a
disk-backed label map, resumably."""
import os
import os.path as osp
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmseg.structures import SegDataSample
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ...utils import atomic_path
from .settings import SlideSettings
from .slide_reader import SlideReader
from .tiling import SlideGrid, blend_window, read_tile


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


@dataclass
class SlidePlan:
    """What mapping a slide needs, known before any tile is read.

    Args:
        reader (SlideReader): The open slide.
        grid (SlideGrid): Its tiles and the output grid.
        tiles (list[tuple[int, int]]): (row, col) of the tiles on tissue,
            row-major (:func:`tissue_tiles`).
        thumb (np.ndarray): ``[h, w, 3]`` uint8 RGB thumbnail.
        thumb_down (float): Level-0 pixels per thumbnail pixel.
        mask (np.ndarray): ``[h, w]`` bool tissue mask of the thumbnail.
        key (str): The run's resume key (:meth:`SlideSettings.resume_key`).
    """
    reader: SlideReader
    grid: SlideGrid
    tiles: List[Tuple[int, int]]
    thumb: np.ndarray
    thumb_down: float
    mask: np.ndarray
    key: str


class TileLoop:
    """The tile loop of one slide: scores blended into a disk-backed label map.

    The tiles on tissue are cut into batches of ``batch_size`` in row-major
    order, read by ``num_workers`` data-loader processes, scored
    (:class:`TileScorer`) and blended with a window of weights into
    per-class accumulators; the label map is their argmax, background where
    no tile scored or the tissue mask is empty.

    Memory is bounded by the output width: the accumulators (``acc``,
    ``[L, out_tile, out_grid_width]`` float32, and ``wsum``,
    ``[out_tile, out_grid_width]``) hold one band of tile rows; rows above
    the next tile row are final and go to the label map
    (``work/labels.npy``, ``[out_h, out_w]`` uint8, memory-mapped). After
    each band the state (``work/state.npz``: key, next row, accumulators) is
    saved atomically, and the scores of finished batches are kept in
    ``work/batches`` until their rows are final: a killed run restarts where
    it stopped and recomputes no finished batch.

    Args:
        plan (SlidePlan): The slide.
        scorer (TileScorer): Scores of a batch of tiles.
        settings (SlideSettings): ``batch_size``, ``num_workers``,
            ``window`` and ``progress`` apply.
        work (str): Folder of the saved state.
        on_batch (callable, optional): Called with :attr:`computed` after
            each batch scored.

    Attributes:
        computed (int): Tiles scored by this run (not loaded from a saved
            batch).
    """

    def __init__(self,
                 plan: SlidePlan,
                 scorer: TileScorer,
                 settings: SlideSettings,
                 work: str,
                 on_batch: Optional[Callable[[int], None]] = None) -> None:
        self.plan, self.scorer, self.work = plan, scorer, work
        self.settings, self.on_batch = settings, on_batch
        self.state_path = osp.join(work, 'state.npz')
        self.weight = blend_window(plan.grid.out_tile, settings.window)
        tiles, size = plan.tiles, settings.batch_size
        self.batches = [tiles[i:i + size] for i in range(0, len(tiles), size)]
        self.batch_of = {
            rc: (b, j)
            for b, members in enumerate(self.batches)
            for j, rc in enumerate(members)
        }
        self.by_row = [[] for _ in range(plan.grid.rows)]
        for rc in tiles:
            self.by_row[rc[0]].append(rc)
        # the tissue mask's column of each output column
        out_w = plan.grid.out_size[0]
        self.mask_cols = ((np.arange(out_w) + 0.5) * plan.grid.out_to_level0 /
                          plan.thumb_down).astype(int).clip(
                              0, plan.mask.shape[1] - 1)
        self.cache, self.loader, self.computed = {}, None, 0
        self.acc = self.wsum = self.labels = None

    def run(self) -> np.ndarray:
        """Blend every tile row not final yet, from the saved state if any.

        Returns:
            np.memmap: The label map, ``[out_h, out_w]`` uint8.

        Raises:
            ValueError: ``work`` holds the state of another key.
        """
        os.makedirs(osp.join(self.work, 'batches'), exist_ok=True)
        next_row = self._restore()
        self.loader = iter(self._loader(next_row))
        bar = tqdm(
            total=len(self.plan.tiles),
            initial=sum(len(row) for row in self.by_row[:next_row]),
            unit='tile',
            desc=osp.basename(self.plan.reader.path),
            disable=not self.settings.progress)
        try:
            for row in range(next_row, self.plan.grid.rows):
                for rc in self.by_row[row]:
                    self._add_tile(rc)
                    bar.update(1)
                self._finish_rows(row)
                self._save(row)
        finally:
            bar.close()
            self.loader = None  # the data-loader workers end here
        labels, self.labels = self.labels, None
        return labels

    def _restore(self) -> int:
        """Open the label map and the accumulators, saved or new; the first
        tile row that is not final."""
        labels_path = osp.join(self.work, 'labels.npy')
        if osp.isfile(self.state_path):
            with np.load(self.state_path) as state:
                if str(state['key']) != self.plan.key:
                    raise ValueError(
                        f'{osp.dirname(self.work)}: holds an interrupted '
                        'run with other settings; remove it or pass '
                        '--overwrite')
                next_row = int(state['next_row'])
                self.acc, self.wsum = state['acc'], state['wsum']
            self.labels = np.lib.format.open_memmap(labels_path, mode='r+')
            return next_row
        grid = self.plan.grid
        t, width = grid.out_tile, grid.out_grid_width
        self.acc = np.zeros((self.scorer.num_labels, t, width), np.float32)
        self.wsum = np.zeros((t, width), np.float32)
        self.labels = np.lib.format.open_memmap(
            labels_path, mode='w+', dtype=np.uint8, shape=grid.out_size[::-1])
        # a sparse map whose disk fills up kills the process (SIGBUS) at
        # the first write; reserving its blocks fails here, as an OSError
        with open(labels_path, 'r+b') as f:
            os.posix_fallocate(f.fileno(), 0, osp.getsize(labels_path))
        return 0

    def _loader(self, next_row: int) -> DataLoader:
        """The batches of the rows from ``next_row`` on whose scores are not
        saved, in order."""
        needed = sorted({
            self.batch_of[rc][0]
            for row in self.by_row[next_row:]
            for rc in row
        })
        todo = [b for b in needed if not osp.isfile(self._batch_file(b))]
        position = {rc: i for i, rc in enumerate(self.plan.tiles)}
        return DataLoader(
            TileDataset(self.plan.reader, self.plan.grid, self.plan.tiles),
            batch_sampler=[[position[rc] for rc in self.batches[b]]
                           for b in todo],
            num_workers=self.settings.num_workers if todo else 0,
            collate_fn=_collate)

    def _batch_file(self, b: int) -> str:
        return osp.join(self.work, 'batches', f'{b:07d}.npy')

    def _batch_scores(self, b: int) -> np.ndarray:
        """Scores of batch ``b``, ``[B, L, out_tile, out_tile]``: held, saved
        before, or computed now (and saved)."""
        if b not in self.cache:
            path = self._batch_file(b)
            if osp.isfile(path):
                self.cache[b] = np.load(path)
            else:
                images = next(self.loader)
                scores = self.scorer(images)
                with atomic_path(path) as tmp:
                    np.save(tmp, scores)  # '.tmp-<b>.npy': no suffix added
                self.cache[b] = scores
                self.computed += len(images)
                if self.on_batch is not None:
                    self.on_batch(self.computed)
        return self.cache[b]

    def _add_tile(self, rc: Tuple[int, int]) -> None:
        """Blend the scores of tile ``rc`` (row, col) into the band."""
        b, j = self.batch_of[rc]
        t = self.plan.grid.out_tile
        x = rc[1] * self.plan.grid.out_stride
        self.acc[:, :, x:x + t] += self._batch_scores(b)[j] * self.weight
        self.wsum[:, x:x + t] += self.weight

    def _finish_rows(self, row: int) -> None:
        """Label the output rows that tile row ``row`` makes final (those above
        the next tile row; all the rest after the last), and shift the band up
        past them."""
        grid = self.plan.grid
        out_w, out_h = grid.out_size
        n = grid.out_tile if row == grid.rows - 1 else grid.out_stride
        y0 = row * grid.out_stride
        y1 = min(y0 + n, out_h)
        if y1 > y0:
            band = self.acc[:, :y1 - y0, :out_w].argmax(0).astype(np.uint8)
            empty = (self.wsum[:y1 - y0, :out_w] == 0) | \
                ~self._tissue_rows(y0, y1)
            band[empty] = self.scorer.background_index
            self.labels[y0:y1] = band
        self.acc = np.concatenate(
            [self.acc[:, n:], np.zeros_like(self.acc[:, :n])], 1)
        self.wsum = np.concatenate(
            [self.wsum[n:], np.zeros_like(self.wsum[:n])], 0)

    def _tissue_rows(self, y0: int, y1: int) -> np.ndarray:
        """The tissue mask at output rows ``y0:y1``, ``[y1 - y0, out_w]``."""
        mask = self.plan.mask
        ys = ((np.arange(y0, y1) + 0.5) * self.plan.grid.out_to_level0 /
              self.plan.thumb_down).astype(int).clip(0, mask.shape[0] - 1)
        return mask[ys][:, self.mask_cols]

    def _save(self, row: int) -> None:
        """Save the state after tile row ``row``; drop the scores of the
        batches whose rows are all final."""
        self.labels.flush()
        with atomic_path(self.state_path) as tmp:
            with open(tmp, 'wb') as f:
                np.savez(
                    f,
                    key=self.plan.key,
                    next_row=row + 1,
                    acc=self.acc,
                    wsum=self.wsum)
        for b in list(self.cache):
            if all(rc[0] <= row for rc in self.batches[b]):
                del self.cache[b]
                if osp.isfile(self._batch_file(b)):
                    os.remove(self._batch_file(b))
