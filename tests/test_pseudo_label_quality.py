"""Pseudo-label quality against true training masks, the label counts a stage-
two loader yields, and the per-class rows of the summary."""
import glob
import json
import os.path as osp

import numpy as np
import pytest
from utils import REPO, STAGE2_DEMO, quadrant_mask, run, write_mask

STAGE1 = osp.join(REPO, 'configs', 'pbip',
                  'pbip_mit-b1_1xb10-8e_bcss-wsss-224x224.py')
# per training image of the bcss_wsss_root fixture: true and pseudo classes
# of the four quadrants (4 = background)
TRUTH = [(0, 1, 1, 3), (1, 1, 1, 1), (2, 3, 4, 4)]
PSEUDO = [(0, 0, 1, 3), (1, 1, 0, 1), (2, 2, 3, 3)]


def write_labels(root):
    names = sorted(
        osp.splitext(osp.basename(p))[0]
        for p in glob.glob(osp.join(root, 'training', '*.png')))
    for name, truth, pseudo in zip(names, TRUTH, PSEUDO):
        write_mask(
            osp.join(root, 'training_mask', name + '.png'),
            quadrant_mask(truth))
        write_mask(
            osp.join(root, 'pseudo', name + '.png'), quadrant_mask(pseudo))


def expected_iou():
    """Per-class IoU counted quadrant by quadrant ('count' background: a tissue
    class predicted on background is a false positive)."""
    inter, pred, gt = (np.zeros(4) for _ in range(3))
    for truth, pseudo in zip(TRUTH, PSEUDO):
        for t, p in zip(truth, pseudo):
            if p < 4:
                pred[p] += 1
            if t < 4:
                gt[t] += 1
            if p == t and t < 4:
                inter[t] += 1
    return 100 * inter / (pred + gt - inter)


def test_pseudo_label_scores_and_summary_row(bcss_wsss_root, tmp_path):
    write_labels(bcss_wsss_root)
    work = str(tmp_path / 'pseudo_eval')
    _, out = run([
        'tools/analysis_tools/eval_pseudo_labels.py', STAGE1,
        osp.join(bcss_wsss_root, 'pseudo'),
        osp.join(bcss_wsss_root, 'training_mask'), '--work-dir', work,
        '--cfg-options', f'train_dataloader.dataset.data_root={bcss_wsss_root}'
    ])
    iou = expected_iou()
    (path, ) = glob.glob(osp.join(work, '*', '*.json'))
    with open(path) as f:
        record = json.loads(f.read())
    for name, value in zip(('TUM', 'STR', 'LYM', 'NEC'), iou):
        assert record[f'IoU.{name}'] == pytest.approx(value, abs=0.01), name
    assert record['mIoU'] == pytest.approx(iou.mean(), abs=0.01)
    # pixel counts: quadrants of 32 x 32 pixels per label value
    quarter = 32 * 32
    for key, table in (('pseudo', PSEUDO), ('truth', TRUTH)):
        counts = [
            quarter * sum(row.count(c) for row in table) for c in range(5)
        ]
        assert record['pixel_counts'][key] == counts, key
    assert 'LYM: pseudo  16.7 % of pixels, truth   8.3 %' in out
    # the summary reads it as a row, with per-class IoU
    _, report = run([
        'tools/analysis_tools/multi_seed_report.py', 'collect', work,
        '--names', 'pseudo labels'
    ])
    assert 'Per-class IoU (%):' in report
    assert f'| pseudo labels | 1 | {iou[0]:.2f} ± n/a | {iou[1]:.2f}' in report


def test_missing_pseudo_label_is_named(bcss_wsss_root, tmp_path):
    write_labels(bcss_wsss_root)
    gone = sorted(glob.glob(osp.join(bcss_wsss_root, 'pseudo', '*.png')))[1]
    import os
    os.remove(gone)
    code, out = run([
        'tools/analysis_tools/eval_pseudo_labels.py', STAGE1,
        osp.join(bcss_wsss_root, 'pseudo'),
        osp.join(bcss_wsss_root, 'training_mask'), '--cfg-options',
        f'train_dataloader.dataset.data_root={bcss_wsss_root}'
    ],
                    check=False)
    assert code != 0 and f'no mask {gone}' in out


def test_stage_two_loader_counts(bcss_wsss_root):
    """One batch of all three images: the pseudo labels' pixels whatever
    flips and rotations the pipeline drew, and the images per class."""
    write_labels(bcss_wsss_root)
    _, out = run([
        'tools/analysis_tools/dataloader_label_counts.py', STAGE2_DEMO,
        '--cfg-options',
        f'train_dataloader.dataset.data_root={bcss_wsss_root}',
        'train_dataloader.dataset.data_prefix.seg_map_path=pseudo',
        'train_dataloader.batch_size=3'
    ])
    assert '1 batches, 3 samples' in out
    quarter = 32 * 32
    for c, name in enumerate(('TUM', 'STR', 'LYM', 'NEC')):
        pixels = quarter * sum(row.count(c) for row in PSEUDO)
        images = sum(c in row for row in PSEUDO)
        share = 100 * pixels / (quarter * 12)
        assert f'{name:>12} {pixels:12d} {share:6.2f}% {images:7d}' in out, (
            name, out[-800:])
    # median-frequency weights: median share over each present label's
    shares = [sum(row.count(c) for row in PSEUDO) / 12 for c in range(5)]
    present = sorted(x for x in shares if x)
    median = (present[1] + present[2]) / 2  # four labels present
    weights = ', '.join(f'{median / x if x else 1.0:.2f}' for x in shares)
    assert f'(loss_decode.class_weight): [{weights}]' in out
