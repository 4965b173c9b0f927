"""Count the label pixels a config's data loader actually yields.

    python tools/analysis_tools/dataloader_label_counts.py CONFIG \
        [--split train|val|test] [--batches N] [--cfg-options k=v ...]

Iterates the split's dataloader as the Runner builds it (its sampler, its
pipeline with the random flips / rotations, its batch size) and counts, per
label value, the pixels of ``gt_sem_seg`` in what comes out, and the images
whose image-level label holds each class. For a stage-two config this is what
the segmentation loss is trained on: the pseudo labels as paired with their
images after augmentation. Also printed: median-frequency class weights of
those counts, for the loss's ``class_weight`` when the pseudo labels are
unbalanced. ``--batches`` defaults to one pass over the
dataset (a stage-two config's InfiniteSampler never ends by itself).
"""
import argparse
import math
import os.path as osp
import sys

import numpy as np
from mmengine.config import DictAction
from mmengine.runner import Runner

# the tools' shared modules (_tool_config) are in tools/; appended, so that
# nothing there shadows an installed module
sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))
from _tool_config import load_tool_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument(
        '--split', choices=('train', 'val', 'test'), default='train')
    parser.add_argument(
        '--batches',
        type=int,
        help='batches to read (default: one pass over the dataset)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def count_labels(loader, batches: int, num_labels: int) -> tuple:
    """Pixel counts per label value (``ignore`` last) and images per class over
    ``batches`` batches of ``loader``.

    Returns:
        tuple: ``(pixels [num_labels + 1], images [num_labels], samples)``.
    """
    pixels = np.zeros(num_labels + 1, np.int64)
    images = np.zeros(num_labels, np.int64)
    samples = 0
    for i, batch in enumerate(loader):
        if i == batches:
            break
        for sample in batch['data_samples']:
            if 'gt_sem_seg' not in sample:
                raise ValueError(
                    f'{sample.img_path}: the pipeline yields no gt_sem_seg '
                    '(a stage-one training split has image-level labels '
                    'only)')
            seg = sample.gt_sem_seg.data.numpy().ravel()
            hist = np.bincount(seg, minlength=256)
            pixels[:num_labels] += hist[:num_labels]
            pixels[num_labels] += hist[num_labels:].sum()
            images += hist[:num_labels] > 0
            samples += 1
    return pixels, images, samples


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_tool_config(args.config, args.cfg_options)
    loader_cfg = cfg[f'{args.split}_dataloader'].copy()
    loader_cfg.update(num_workers=0, persistent_workers=False)
    loader = Runner.build_dataloader(
        loader_cfg, seed=cfg.get('randomness', {}).get('seed', 0))
    classes = list(loader.dataset.metainfo['classes'])
    batches = args.batches or math.ceil(
        len(loader.dataset) / loader_cfg['batch_size'])
    pixels, images, samples = count_labels(loader, batches, len(classes))
    total = max(int(pixels.sum()), 1)
    print(f'{args.config}, {args.split} loader: {batches} batches, '
          f'{samples} samples')
    print(f"{'label':>12} {'pixels':>12} {'share':>7} {'images':>7}")
    for name, p, n in zip(classes + ['(ignore)'], pixels, list(images) + ['']):
        print(f'{name:>12} {p:12d} {100 * p / total:6.2f}% {n!s:>7}')
    weights = median_frequency_weights(pixels[:len(classes)])
    print('median-frequency class weights (loss_decode.class_weight): [' +
          ', '.join(f'{w:.2f}' for w in weights) + ']')
    return 0


def median_frequency_weights(pixels: np.ndarray) -> list:
    """Median-frequency balancing (Eigen and Fergus, 2015): each label's weight
    is the median of the labels' pixel frequencies over its own; a label with
    no pixels (background in pseudo labels) gets 1.

    Args:
        pixels (np.ndarray): ``[C]`` pixel counts per label value.

    Returns:
        list[float]: ``C`` weights.
    """
    present = pixels > 0
    if not present.any():
        return [1.0] * len(pixels)
    freq = pixels / pixels.sum()
    median = float(np.median(freq[present]))
    return [median / f if f > 0 else 1.0 for f in freq]


if __name__ == '__main__':
    sys.exit(main())
