"""Image-level labels written into patch file names, in each dataset's real
format.

BCSS-WSSS:      ``TCGA-A1-A0SK-DX1_xmin45749_ymin25055_MPP-0.2500+0[1101].png``
LUAD-HistoSeg:  ``1031280-2300-27920-[1 0 0 1].png``

The digits are in the dataset's class order, one per tissue class.
"""
import os.path as osp
import re
from typing import Dict, List

import numpy as np

# format name -> (pattern matching the label group at the end of the stem,
# example)
LABEL_FORMATS: Dict[str, tuple] = {
    'bcss-wsss': (re.compile(r'\[([01]+)\]$'), 'name+0[1101].png'),
    'luad-histoseg':
    (re.compile(r'\[([01](?: [01])*)\]$'), 'name-[1 0 0 1].png'),
}


def parse_cls_label(filename: str, label_format: str,
                    num_classes: int) -> List[int]:
    """Parse the multi-hot image-level label written in a file name.

    Args:
        filename (str): Path or base name of the patch.
        label_format (str): One of ``LABEL_FORMATS`` ('bcss-wsss',
            'luad-histoseg').
        num_classes (int): Number of tissue classes the label must have.

    Returns:
        list[int]: Multi-hot label of length ``num_classes``.

    Raises:
        ValueError: If the name carries no label in that format, the label
            has the wrong length, or names no class at all.
    """
    if label_format not in LABEL_FORMATS:
        raise ValueError(f'Unknown label_format {label_format!r}; expected '
                         f'one of {sorted(LABEL_FORMATS)}')
    pattern, example = LABEL_FORMATS[label_format]
    stem = osp.splitext(osp.basename(filename))[0]
    match = pattern.search(stem)
    if match is None:
        raise ValueError(
            f'{filename}: no image-level label in the file name; a '
            f'{label_format} training patch is named like {example!r}')
    digits = match.group(1).replace(' ', '')
    if len(digits) != num_classes:
        raise ValueError(
            f'{filename}: image-level label [{match.group(1)}] has '
            f'{len(digits)} entries, expected {num_classes} (one per class)')
    label = [int(d) for d in digits]
    if not any(label):
        raise ValueError(f'{filename}: image-level label [{match.group(1)}] '
                         'names no tissue class')
    return label


def format_cls_label(label, label_format: str) -> str:
    """Write a multi-hot label the way ``label_format`` puts it in a name.

    Args:
        label (Sequence[int]): Multi-hot label, one entry per class.
        label_format (str): 'bcss-wsss' or 'luad-histoseg'.

    Returns:
        str: e.g. ``'[1101]'`` or ``'[1 1 0 1]'``.
    """
    digits = [str(int(bool(v))) for v in label]
    if label_format == 'bcss-wsss':
        return '[' + ''.join(digits) + ']'
    if label_format == 'luad-histoseg':
        return '[' + ' '.join(digits) + ']'
    raise ValueError(f'Unknown label_format {label_format!r}; expected one '
                     f'of {sorted(LABEL_FORMATS)}')


def cls_label_from_mask(mask: np.ndarray, num_classes: int) -> np.ndarray:
    """Image-level label of a mask: the tissue classes present.

    Args:
        mask (np.ndarray): ``[H, W]`` labels; values >= ``num_classes``
            (background, ignore) are not classes.
        num_classes (int): Number of tissue classes.

    Returns:
        np.ndarray: ``[num_classes]`` uint8 multi-hot.
    """
    values = np.unique(mask)
    label = np.zeros(num_classes, dtype=np.uint8)
    label[values[values < num_classes]] = 1
    return label
