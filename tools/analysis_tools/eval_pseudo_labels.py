"""Score pseudo labels against true masks of the training split.

    python tools/analysis_tools/eval_pseudo_labels.py CONFIG PSEUDO_DIR \
        MASK_DIR [--work-dir DIR] [--cfg-options k=v ...]

The figure weakly supervised segmentation papers judge stage one by: the
pseudo labels of the training images (``tools/generate_pseudo_labels.py``)
compared, pixel by pixel, with masks that training never saw. The real
datasets have no training masks; the demo data has them
(``data/demo/training_mask``, written by ``tools/generate_demo_data.py``).

The scores are the config's own ``test_evaluator`` (``HistoSegMetric``:
mIoU, FwIoU, bIoU, Dice and per-class IoU / bIoU / Dice, with the config's
background mode), over every image of the config's training split, in the
dataset's order. Also printed: the per-class pixel counts of the pseudo labels
and of the truth. With ``--work-dir`` the scores are written where
``tools/test.py`` writes its own (``DIR/<timestamp>/<timestamp>.json``, one
JSON line), so ``multi_seed_report.py collect DIR`` reads them as a row.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

import numpy as np
from mmengine.config import Config, DictAction
from mmseg.registry import DATASETS, METRICS

from mmseg_pbip.utils import atomic_path

# the tools' shared modules (_tool_config) are in tools/; appended, so that
# nothing there shadows an installed module
sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))
from _tool_config import load_tool_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        'config',
        help='the stage-one config (its dataset '
        'lists the training images, its test_evaluator '
        'scores)')
    parser.add_argument('pseudo_dir', help='folder of pseudo-label PNGs')
    parser.add_argument('mask_dir', help='folder of the true training masks')
    parser.add_argument(
        '--work-dir',
        help='write the scores here as a test '
        'log (DIR/<timestamp>/<timestamp>.json)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def label_maps(cfg: Config, folder: str):
    """The config's training split paired with the label PNGs of ``folder`` as
    stage two pairs them (``data_prefix.seg_map_path``), each item's
    ``gt_seg_map`` loaded and checked by ``LoadHistoAnnotations``; the dataset
    names an image whose PNG is missing."""
    data_cfg = cfg.train_dataloader.dataset.copy()
    data_cfg.data_prefix = dict(
        data_cfg.data_prefix, seg_map_path=osp.abspath(folder))
    data_cfg.pipeline = [dict(type='LoadHistoAnnotations')]
    return DATASETS.build(data_cfg)


def evaluate(cfg: Config, pseudo_dir: str, mask_dir: str) -> tuple:
    """Scores and per-class pixel counts of the pseudo labels.

    Returns:
        tuple: ``(metrics, counts, classes)``: the evaluator's dict,
        ``{'pseudo': [...], 'truth': [...]}`` pixel counts per label value
        (tissue classes, then background) and the class names.
    """
    pseudo_set, truth_set = label_maps(cfg,
                                       pseudo_dir), label_maps(cfg, mask_dir)
    meta = pseudo_set.metainfo
    evaluator_cfg = cfg.test_evaluator
    if isinstance(evaluator_cfg, (list, tuple)):
        evaluator_cfg = evaluator_cfg[0]
    metric = METRICS.build(evaluator_cfg)
    metric.dataset_meta = meta
    num = meta['background_index'] + 1
    counts = dict(
        pseudo=np.zeros(num, np.int64), truth=np.zeros(num, np.int64))
    for p, t in zip(pseudo_set, truth_set):
        pseudo, truth = p['gt_seg_map'], t['gt_seg_map']
        if pseudo.shape != truth.shape:
            raise ValueError(
                f"{p['seg_map_path']}: size {pseudo.shape} differs from its "
                f"true mask {t['seg_map_path']} {truth.shape}")
        metric.results.append(metric.compute_sample(pseudo, truth))
        counts['pseudo'] += np.bincount(pseudo.ravel(), minlength=256)[:num]
        counts['truth'] += np.bincount(truth.ravel(), minlength=256)[:num]
    metrics = metric.compute_metrics(metric.results)
    return metrics, {
        k: v.tolist()
        for k, v in counts.items()
    }, list(meta['classes'])


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_tool_config(args.config, args.cfg_options)
    metrics, counts, names = evaluate(cfg, args.pseudo_dir, args.mask_dir)
    print(f'pseudo labels {args.pseudo_dir} against {args.mask_dir}:')
    print(', '.join(f'{k} {metrics[k]:.2f}'
                    for k in ('mIoU', 'FwIoU', 'bIoU', 'Dice')))
    total = [max(sum(v), 1) for v in (counts['pseudo'], counts['truth'])]
    for name, p, t in zip(names, counts['pseudo'], counts['truth']):
        print(f'  {name:>10}: pseudo {100 * p / total[0]:5.1f} % of pixels, '
              f'truth {100 * t / total[1]:5.1f} %')
    if args.work_dir:
        stamp = time.strftime('%Y%m%d_%H%M%S', time.localtime())
        path = osp.join(args.work_dir, stamp, f'{stamp}.json')
        os.makedirs(osp.dirname(path), exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, 'w') as f:
            f.write(json.dumps(dict(metrics, pixel_counts=counts)) + '\n')
        print(f'written: {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
