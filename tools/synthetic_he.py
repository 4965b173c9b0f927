"""Synthetic H&E-like patches in the BCSS-WSSS on-disk format (demo data).

Each patch mixes 1 to 3 tissue classes in irregular regions, sometimes with
white glass, rendered with class-specific colour and texture:

- TUM: dense, large, dark purple nuclei on a purple-pink cytoplasm;
- STR: pink, wavy, oriented fibres with sparse elongated nuclei;
- LYM: packed small dark-blue round cells;
- NEC: pale, washed-out pink-grey with fragmented debris (still darker
  than glass: grey level about 190 against 244);
- background (mask value 4): near-white, unstained glass.

Everything is drawn from ``np.random.default_rng((seed, split, index))``, so
a patch depends only on the seed, its split and its index.
"""
import json
import os
import os.path as osp
from typing import Dict, Tuple

import cv2
import numpy as np
from PIL import Image

from mmseg_pbip.datasets import BCSSWSSSDataset, format_cls_label
from mmseg_pbip.utils import atomic_path, save_index_png

# the BCSS-WSSS layout and labels: 4 tissue classes, background 4
NUM_CLASSES = 4
BACKGROUND = BCSSWSSSDataset.METAINFO['background_index']
PALETTE = BCSSWSSSDataset.METAINFO['palette']
SPLITS = {'training': 0, 'val': 1, 'test': 2}
# Bumped whenever the drawing changes, so stale demo folders are rewritten.
GENERATOR_VERSION = 7
# The true masks of the training patches, for judging pseudo labels only.
TRAINING_MASK_DIR = 'training_mask'


def _smooth_noise(rng, size: int, sigma: float) -> np.ndarray:
    """Gaussian-blurred white noise, ``[size, size]`` float32, unit std."""
    field = cv2.GaussianBlur(
        rng.standard_normal((size, size)).astype(np.float32), (0, 0), sigma)
    return field / (field.std() + 1e-6)


def _region_map(rng, size: int, labels, with_background: bool) -> np.ndarray:
    """Irregular regions: argmax of smooth random fields, ``[size, size]``."""
    ids = list(labels) + ([BACKGROUND] if with_background else [])
    fields = np.stack(
        [_smooth_noise(rng, size, size / 7) + rng.normal(0, 0.3) for _ in ids])
    return np.asarray(ids, dtype=np.uint8)[fields.argmax(0)]


def _draw_cells(img, rng, count, radius, color, jitter=25, aspect=1.0):
    """Draw ``count`` filled ellipses (nuclei) of ``radius`` (min, max)."""
    size = img.shape[0]
    xs = rng.integers(0, size, count)
    ys = rng.integers(0, size, count)
    rs = rng.uniform(radius[0], radius[1], count)
    angles = rng.uniform(0, 180, count)
    shades = rng.integers(-jitter, jitter + 1, (count, 3))
    for x, y, r, a, s in zip(xs, ys, rs, angles, shades):
        c = tuple(int(v) for v in np.clip(np.asarray(color) + s, 0, 255))
        axes = (max(1, int(round(r * aspect))), max(1, int(round(r))))
        cv2.ellipse(img, (int(x), int(y)), axes, float(a), 0, 360, c, -1,
                    cv2.LINE_AA)


def _texture(rng, cls: int, size: int) -> np.ndarray:
    """Render a full ``[size, size, 3]`` RGB texture of one class."""
    scale = size / 224
    if cls == BACKGROUND:
        img = np.full((size, size, 3), 244, np.float32)
        img += 4 * _smooth_noise(rng, size, 3)[..., None]
        return img
    if cls == 0:  # tumour: crowded large dark nuclei
        img = np.empty((size, size, 3), np.float32)
        img[:] = (196, 140, 196)
        img += 10 * _smooth_noise(rng, size, 4 * scale + 1)[..., None]
        img = np.clip(img, 0, 255).astype(np.uint8)
        _draw_cells(
            img,
            rng,
            int(260 * scale**2), (4.5 * scale, 7 * scale), (92, 40, 128),
            aspect=1.3)
        return img.astype(np.float32)
    if cls == 1:  # stroma: wavy pink fibres
        theta = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        warp = 6 * _smooth_noise(rng, size, 10 * scale + 1)
        phase = (xx * np.cos(theta) + yy * np.sin(theta)) / (3.0 * scale + .5)
        fibres = 0.5 + 0.5 * np.sin(phase + warp)
        img = np.empty((size, size, 3), np.float32)
        img[:] = (226, 150, 190)
        img -= fibres[..., None] * np.asarray((30, 75, 45), np.float32)
        img = np.clip(img, 0, 255).astype(np.uint8)
        _draw_cells(
            img,
            rng,
            int(25 * scale**2), (1.5 * scale, 2.5 * scale), (120, 60, 140),
            aspect=3.0)
        return img.astype(np.float32)
    if cls == 2:  # lymphocytes: packed small round dark-blue cells
        img = np.empty((size, size, 3), np.float32)
        img[:] = (204, 164, 198)
        img = np.clip(img, 0, 255).astype(np.uint8)
        _draw_cells(
            img,
            rng,
            int(900 * scale**2), (1.6 * scale, 2.6 * scale), (48, 30, 112),
            jitter=15)
        return img.astype(np.float32)
    # necrosis: pale, low-contrast, fragmented debris
    img = np.empty((size, size, 3), np.float32)
    img[:] = (200, 160, 182)
    img += 8 * _smooth_noise(rng, size, 6 * scale + 1)[..., None]
    img = np.clip(img, 0, 255).astype(np.uint8)
    _draw_cells(
        img,
        rng,
        int(320 * scale**2), (0.6 * scale, 1.8 * scale), (170, 120, 170),
        jitter=30,
        aspect=2.0)
    return img.astype(np.float32)


def synthesize_patch(
        rng,
        size: int = 224,
        max_classes: int = 3,
        background_prob: float = 0.35,
        min_fraction: float = 0.04
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw one patch.

    Args:
        rng (np.random.Generator): Source of randomness.
        size (int): Side of the square patch in pixels.
        max_classes (int): Most tissue classes in one patch (1 to 4).
        background_prob (float): Probability of a white-glass region.
        min_fraction (float): A class covering less of the patch than this is
            dropped from the image-level label and from the mask (its pixels
            go to the neighbouring majority class), so labels stay honest.

    Returns:
        tuple: image ``[size, size, 3]`` uint8 RGB, mask ``[size, size]``
        uint8 (0-3 tissue, 4 background), label ``[4]`` uint8 multi-hot.
    """
    k = int(rng.integers(1, max_classes + 1))
    labels = sorted(rng.choice(NUM_CLASSES, size=k, replace=False).tolist())
    mask = _region_map(rng, size, labels, rng.random() < background_prob)
    counts = np.bincount(mask.ravel(), minlength=BACKGROUND + 1)
    keep = [c for c in labels if counts[c] >= min_fraction * mask.size]
    if not keep:  # background swallowed the tissue: draw it without glass
        mask = _region_map(rng, size, labels, False)
        counts = np.bincount(mask.ravel(), minlength=BACKGROUND + 1)
        keep = [c for c in labels if counts[c] >= min_fraction * mask.size]
        keep = keep or [max(labels, key=lambda c: counts[c])]
    for c in set(labels) - set(keep):
        mask[mask == c] = keep[0]
    present = [int(c) for c in np.unique(mask)]
    img = np.zeros((size, size, 3), np.float32)
    for c in present:
        region = (mask == c)[..., None]
        img = np.where(region, _texture(rng, c, size), img)
    img = cv2.GaussianBlur(img, (0, 0), 0.6)
    img += rng.normal(0, 4, img.shape).astype(np.float32)
    label = np.zeros(NUM_CLASSES, np.uint8)
    label[[c for c in present if c < NUM_CLASSES]] = 1
    return np.clip(img, 0, 255).astype(np.uint8), mask, label


def _save_png(path: str, array: np.ndarray) -> None:
    """Write an RGB PNG through a temporary name, then rename (atomic)."""
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format='PNG')


def write_demo_dataset(out_dir: str,
                       num_train: int = 240,
                       num_val: int = 48,
                       num_test: int = 48,
                       size: int = 224,
                       seed: int = 0) -> Dict[str, int]:
    """Write a synthetic dataset in the BCSS-WSSS on-disk layout.

    Layout::

        out_dir/training/DEMO-<i>_xmin<x>_ymin<y>_MPP-0.2500+0[1101].png
        out_dir/training_mask/<the same name>.png       (P mode, 0-3, 4 = bg)
        out_dir/{val,test}/img/DEMO-<split>-<i>.png
        out_dir/{val,test}/mask/DEMO-<split>-<i>.png  (P mode, 0-3, 4 = bg)
        out_dir/demo_meta.json                          (parameters, counts)

    Args:
        out_dir (str): Dataset root; created if missing.
        num_train, num_val, num_test (int): Patches per split.
        size (int): Patch side in pixels (224 in the real datasets).
        seed (int): Seed; the same seed gives byte-identical files.

    The training masks are what the real datasets do not have: no config
    reads them (training sees only the file names' labels); they exist to
    measure the pseudo labels against the truth
    (``tools/analysis_tools/eval_pseudo_labels.py``).

    Returns:
        dict: Number of patches per split and per-class training counts.
    """
    counts = dict(training=num_train, val=num_val, test=num_test)
    class_counts = np.zeros(NUM_CLASSES, np.int64)
    for split, num in counts.items():
        if split == 'training':
            dirs = [
                osp.join(out_dir, 'training'),
                osp.join(out_dir, TRAINING_MASK_DIR)
            ]
        else:
            dirs = [
                osp.join(out_dir, split, 'img'),
                osp.join(out_dir, split, 'mask')
            ]
        for d in dirs:
            os.makedirs(d, exist_ok=True)
        for i in range(num):
            rng = np.random.default_rng((seed, SPLITS[split], i))
            img, mask, label = synthesize_patch(rng, size)
            if split == 'training':
                class_counts += label
                x, y = 224 * (i % 97), 224 * (i // 97)
                name = (f'DEMO-{i:05d}_xmin{x}_ymin{y}_MPP-0.2500+0'
                        f"{format_cls_label(label, 'bcss-wsss')}.png")
            else:
                name = f'DEMO-{split}-{i:05d}.png'
            _save_png(osp.join(dirs[0], name), img)
            save_index_png(osp.join(dirs[1], name), mask, PALETTE)
    summary = dict(
        counts=counts,
        train_class_counts=dict(
            zip(('TUM', 'STR', 'LYM', 'NEC'), class_counts.tolist())),
        size=size,
        seed=seed,
        generator_version=GENERATOR_VERSION)
    with atomic_path(osp.join(out_dir, 'demo_meta.json')) as tmp, \
            open(tmp, 'w') as f:
        json.dump(summary, f, indent=2)
    return summary
