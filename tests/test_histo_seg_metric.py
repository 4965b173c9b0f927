"""HistoSegMetric against values computed by hand."""
import math
import os

import numpy as np
import pytest
import torch

from mmseg_pbip.evaluation import HistoSegMetric
from mmseg_pbip.evaluation.metrics.boundary import (boundary_width,
                                                    mask_boundary)

META = dict(classes=('TUM', 'STR', 'LYM', 'NEC', 'BACK'), background_index=4)

# ground truth: 0/1/2 tissue, 4 background; NEC (3) absent everywhere
GT = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [4, 4, 2, 2], [2, 2, 2, 2]])
PRED = np.array([[0, 0, 0, 1], [0, 0, 1, 1], [0, 4, 2, 2], [4, 2, 2, 2]])


def evaluate(pairs, **kwargs):
    metric = HistoSegMetric(**kwargs)
    metric.dataset_meta = META
    samples = [
        dict(
            pred_sem_seg=dict(data=torch.as_tensor(p)[None]),
            gt_sem_seg=dict(data=torch.as_tensor(g)[None])) for p, g in pairs
    ]
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


def test_count_background():
    # TUM: pred 6 px (one on background), gt 4, inter 4 -> IoU 4/6, Dice 8/10
    # STR: pred 3, gt 4, inter 3 -> 3/4, 6/7 ; LYM: pred 5, gt 6 -> 5/6, 10/11
    m = evaluate([(PRED, GT)], background_mode='count', boundary_ratio=0.1)
    assert m['IoU.TUM'] == 66.67 and m['IoU.STR'] == 75.0
    assert m['IoU.LYM'] == 83.33
    assert m['mIoU'] == 75.0
    assert m['Dice'] == 85.54  # (0.8 + 6/7 + 10/11) / 3
    assert m['FwIoU'] == 76.19  # (4 * 4/6 + 4 * 3/4 + 6 * 5/6) / 14
    # absent from prediction and ground truth: undefined, not in the means
    assert math.isnan(m['IoU.NEC']) and math.isnan(m['Dice.NEC'])
    assert math.isnan(m['bIoU.NEC'])
    # 4x4 with d = 1: every pixel is boundary, so bIoU equals IoU here
    assert m['bIoU'] == 75.0


def test_ignore_background():
    # gt-background pixels dropped: TUM loses its false positive -> 4/5
    m = evaluate([(PRED, GT)], background_mode='ignore', boundary_ratio=0.1)
    assert m['IoU.TUM'] == 80.0
    assert m['mIoU'] == 79.44  # (0.8 + 0.75 + 5/6) / 3
    assert m['Dice'] == 88.5  # (8/9 + 6/7 + 10/11) / 3
    assert m['FwIoU'] == 80.0  # (4 * 0.8 + 4 * 0.75 + 6 * 5/6) / 14


def test_boundary_iou_by_hand():
    gt = np.zeros((8, 8), np.int64)
    gt[:, 6:] = 1
    pred = np.zeros((8, 8), np.int64)
    # d = round(0.1 * hypot(8, 8)) = 1. TUM gt band: 48 - 6x4 = 24 px;
    # pred band: 64 - 6x6 = 28 px; shared: rows 0, 7 and column 0 = 18 px
    # -> 18 / (24 + 28 - 18). STR: gt band 16 px, no prediction -> 0.
    m = evaluate([(pred, gt)], boundary_ratio=0.1)
    assert m['bIoU.TUM'] == round(18 / 34 * 100, 2)
    assert m['bIoU.STR'] == 0.0
    assert m['bIoU'] == round((18 / 34) / 2 * 100, 2)
    assert m['mIoU'] == 37.5


def test_dataset_level_accumulation():
    # two images: IoU of sums, not mean of per-image IoUs
    a_gt = np.zeros((4, 4), np.int64)
    a_pred = a_gt.copy()  # TUM perfect, 16 px
    b_gt = np.zeros((4, 4), np.int64)
    b_pred = np.full((4, 4), 1)  # TUM missed entirely, STR all false
    m = evaluate([(a_pred, a_gt), (b_pred, b_gt)], boundary_ratio=0.1)
    assert m['IoU.TUM'] == 50.0  # 16 / 32, per-image mean would also be 50
    assert m['IoU.STR'] == 0.0
    assert m['FwIoU'] == 50.0  # STR has no gt pixels: weight 0


def test_ignore_index_left_out():
    gt = GT.copy()
    gt[0, 0] = 255
    pred = PRED.copy()
    m = evaluate([(pred, gt)], background_mode='count', boundary_ratio=0.1)
    assert m['IoU.TUM'] == 60.0  # inter 3, pred 5, gt 3


def test_boundary_helpers():
    assert boundary_width(224, 224, 0.02) == 6
    assert boundary_width(4, 4, 0.02) == 1
    mask = np.ones((5, 5), bool)
    band = mask_boundary(mask, 1)
    assert band.sum() == 16 and not band[2, 2]
    assert mask_boundary(mask, 2).sum() == 24  # only the centre is deeper
    assert mask_boundary(mask, 3).all()


def test_bad_arguments_and_meta():
    with pytest.raises(ValueError, match='background_mode'):
        HistoSegMetric(background_mode='drop')
    with pytest.raises(ValueError, match='boundary_ratio'):
        HistoSegMetric(boundary_ratio=2)
    metric = HistoSegMetric()
    metric.dataset_meta = dict(classes=('a', 'b'))
    with pytest.raises(KeyError, match='background_index'):
        metric.compute_sample(np.zeros((2, 2)), np.zeros((2, 2)))


def test_output_dir_and_format_only(tmp_path):
    """``tools/test.py --out DIR``: the predictions as P-mode PNGs with the
    dataset palette; ``format_only`` writes them without ground truth."""
    from PIL import Image
    palette = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [153, 0, 255],
               [255, 255, 255]]
    for format_only in (False, True):
        out = tmp_path / f'out{int(format_only)}'
        metric = HistoSegMetric(output_dir=str(out), format_only=format_only)
        metric.dataset_meta = dict(META, palette=palette)
        sample = dict(
            img_path='/data/test/img/case7.png',
            pred_sem_seg=dict(data=torch.as_tensor(PRED)[None]))
        if not format_only:
            sample['gt_sem_seg'] = dict(data=torch.as_tensor(GT)[None])
        metric.process({}, [sample])
        scores = metric.compute_metrics(metric.results)
        png = Image.open(out / 'case7.png')
        assert png.mode == 'P'
        assert png.getpalette()[:15] == sum(palette, [])
        assert np.array_equal(np.asarray(png), PRED)
        assert (scores == {}) == format_only


def test_counts_are_exact_beyond_float32():
    """Areas are counted in int64: 4097 x 4096 pixels of one class, more
    than 2^24 (a float32 count stops at 2^24), and a single tissue class
    (background_index 1) does not count background into it."""
    from mmseg_pbip.evaluation.metrics import HistoSegMetric
    metric = HistoSegMetric()
    metric.dataset_meta = dict(classes=('TUM', 'BACK'), background_index=1)
    pred = np.zeros((4097, 4096), np.int64)
    gt = np.zeros((4097, 4096), np.int64)
    n = gt.size
    assert n > 2**24
    gt[0, :5] = 1  # background, predicted as TUM: false positives
    stats = metric.compute_sample(pred, gt)
    assert stats[0, 0] == n - 5 and stats[1, 0] == n and stats[2, 0] == n - 5


def test_pseudo_label_writer_writes_dataset_masks(tmp_path):
    """P-mode PNGs with the palette and the predicted values, overlays only for
    the named images, the count of written files."""
    from PIL import Image

    from mmseg_pbip.evaluation import PseudoLabelWriter
    palette = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [153, 0, 255],
               [255, 255, 255]]
    classes = ('TUM', 'STR', 'LYM', 'NEC', 'BACK')
    writer = PseudoLabelWriter(
        output_dir=str(tmp_path / 'out'),
        overlay_dir=str(tmp_path / 'ov'),
        overlay_images=['b.jpg'])
    writer.dataset_meta = dict(palette=palette, classes=classes)
    samples = []
    masks = {}
    for name, offset in (('a', 0), ('b', 2)):
        img = str(tmp_path / f'{name}.jpg')
        Image.fromarray(np.full((4, 5, 3), 90, np.uint8)).save(img)
        mask = np.array([[(x + y + offset) % 5 for x in range(5)]
                         for y in range(4)])
        masks[name] = mask
        samples.append(
            dict(
                img_path=img,
                pred_sem_seg=dict(data=torch.from_numpy(mask)[None]),
                seg_logits=dict(data=torch.rand(4, 4, 5))))
    writer.process({}, samples)
    assert writer.evaluate(2) == {'pseudo_labels/written': 2}
    for name, mask in masks.items():
        png = Image.open(tmp_path / 'out' / f'{name}.png')
        assert png.mode == 'P'
        assert png.getpalette()[:15] == [v for rgb in palette for v in rgb]
        assert np.array_equal(np.asarray(png), mask)
    assert sorted(os.listdir(tmp_path / 'ov')) == ['b_overlay.png']
    overlay = Image.open(tmp_path / 'ov' / 'b_overlay.png')
    assert overlay.size[0] == 3 * 5 and overlay.size[1] > 4  # + legend
    assert writer.evaluate(0) == {'pseudo_labels/written': 0}  # reset
