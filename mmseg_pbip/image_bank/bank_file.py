"""The image-bank file: prototypes in a tensor file loaded safely.

Format (``torch.save`` of a dict of tensors, numbers, strings and lists;
read with ``weights_only=True``, no allow-list needed):

- ``format``: ``'mmseg-pbip-image-bank'``, ``version``: 1
- ``prototypes``: float32 ``[sum(K), d]``, grouped by class in class order
- ``k_per_class``: list[int], ``class_names``: list[str]
- ``encoder``: str (encoder type and weight source), ``feature_dim``: int
- ``encoder_fingerprint``: str, SHA-1 of the encoder's weights (or None)
- ``cluster_members``: list (per prototype) of list[str] image paths
- ``settings``: dict of the build settings
"""
import os
import os.path as osp
from typing import Optional, Sequence

import torch

from ..utils import atomic_path, safe_load

FORMAT = 'mmseg-pbip-image-bank'
VERSION = 1


def save_image_bank(path: str, bank: dict) -> None:
    """Validate and write a bank atomically (temporary name, then rename)."""
    check_image_bank(bank, path)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(dict(bank, format=FORMAT, version=VERSION), tmp)


def check_image_bank(bank: dict,
                     path: str,
                     class_names: Optional[Sequence[str]] = None,
                     feature_dim: Optional[int] = None,
                     encoder: Optional[torch.nn.Module] = None) -> dict:
    """Check a bank's structure and, optionally, that it fits a config.

    Args:
        bank (dict): The loaded bank.
        path (str): Its file, for messages.
        class_names (Sequence[str], optional): The dataset's tissue classes.
        feature_dim (int, optional): The configured encoder's output size.
        encoder (nn.Module, optional): The configured encoder: its type
            and, when the bank has one, its weights' fingerprint must match.

    Raises:
        ValueError: naming ``path`` and the mismatch.
    """
    keys = {
        'prototypes', 'k_per_class', 'class_names', 'encoder', 'feature_dim',
        'cluster_members'
    }
    if not isinstance(bank, dict) or not keys <= set(bank):
        raise ValueError(f'{path}: not an image bank (needs keys '
                         f'{sorted(keys)})')
    protos, k = bank['prototypes'], list(bank['k_per_class'])
    if not isinstance(protos, torch.Tensor) or protos.dim() != 2 or \
            protos.shape[0] != sum(k) or protos.shape[1] != \
            bank['feature_dim'] or len(k) != len(bank['class_names']):
        raise ValueError(
            f'{path}: inconsistent image bank: prototypes '
            f'{tuple(getattr(protos, "shape", ()))}, k_per_class {k}, '
            f"{len(bank['class_names'])} classes, feature_dim "
            f"{bank['feature_dim']}")
    if class_names is not None and list(class_names) != list(
            bank['class_names']):
        raise ValueError(
            f"{path}: image bank classes {list(bank['class_names'])} differ "
            f'from the dataset classes {list(class_names)}')
    if feature_dim is not None and feature_dim != bank['feature_dim']:
        raise ValueError(
            f"{path}: image bank features are {bank['feature_dim']}-d, the "
            f'configured encoder gives {feature_dim}-d (built with '
            f"{bank['encoder']})")
    if encoder is not None:
        built_with = str(bank['encoder']).split('(')[0]
        fingerprint = encoder.fingerprint()
        if built_with != type(encoder).__name__ or (
                bank.get('encoder_fingerprint')
                and bank['encoder_fingerprint'] != fingerprint):
            built_fp = str(bank.get('encoder_fingerprint'))[:12]
            raise ValueError(
                f"{path}: image bank was built with {bank['encoder']} "
                f"(weights {built_fp}), the config's "
                f'encoder is {encoder.description} (weights '
                f'{fingerprint[:12]}): the prototypes live in '
                'another feature space. Rebuild the bank (tools/'
                'build_image_bank.py CONFIG, or ImageBankHook rebuild=True)')
    return bank


def load_image_bank(path: str,
                    class_names=None,
                    feature_dim=None,
                    encoder=None) -> dict:
    """Load a bank with safe loading and check it (see
    :func:`check_image_bank`)."""
    bank = safe_load(path, what='image bank')
    if isinstance(bank, dict) and bank.get('format') != FORMAT:
        raise ValueError(f'{path}: not an mmseg-pbip image bank (format '
                         f"{bank.get('format')!r})")
    return check_image_bank(bank, path, class_names, feature_dim, encoder)
