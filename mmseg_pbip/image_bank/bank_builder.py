"""Build the image bank: encode single-label patches, K-means per class."""
from typing import Dict, Sequence

import cv2
import numpy as np
import torch
from mmengine.logging import print_log
from sklearn.cluster import KMeans

from ..utils import shard_map
from .patch_selection import (drop_white_patches, read_rgb01,
                              single_label_indices)


@torch.no_grad()
def encode_images(paths: Sequence[str], encoder: torch.nn.Module,
                  batch_size: int = 32, device=None,
                  desc: str = 'encoding') -> torch.Tensor:
    """Encode image files in batches.

    In multi-process runs the batches are dealt to the ranks and the
    features gathered (:func:`~mmseg_pbip.utils.shard_map`): every rank
    returns all features, each batch computed as in a single process.

    Returns:
        Tensor: ``[M, d]`` float32 on the CPU.
    """
    device = device or next(encoder.buffers()).device

    def encode(batch_paths):
        imgs = [read_rgb01(p) for p in batch_paths]
        h, w = imgs[0].shape[:2]  # the encoder resizes; a batch needs one
        imgs = [
            img if img.shape[:2] == (h, w) else cv2.resize(
                img, (w, h), interpolation=cv2.INTER_LINEAR) for img in imgs
        ]
        batch = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2)
        return encoder(batch.to(device)).float().cpu()

    return torch.cat(shard_map(encode, list(paths), batch_size, desc))


def build_image_bank(paths: Sequence[str], labels: np.ndarray,
                     class_names: Sequence[str], encoder: torch.nn.Module,
                     k_per_class: int = 3, n_per_cluster: int = 100,
                     max_white_fraction: float = 0.5,
                     grey_threshold: float = 200., batch_size: int = 32,
                     seed: int = 0) -> Dict:
    """Prototypes from the single-label training patches.

    Per class: drop patches more than ``max_white_fraction`` white, encode
    the rest, L2-normalise, K-means (``k_per_class`` clusters; Euclidean
    K-means on unit vectors follows the cosine distance of eq. 1), keep the
    ``n_per_cluster`` patches nearest each centre (cosine) and average their
    normalised features into the cluster's prototype.

    A class with fewer usable patches than clusters gets fewer clusters
    (warning); a class with none is an error naming the class.

    Args:
        paths (Sequence[str]): Training image paths ``[M]``.
        labels (np.ndarray): ``[M, N]`` multi-hot image-level labels.
        class_names (Sequence[str]): The ``N`` tissue classes.
        encoder (nn.Module): Frozen encoder, images in [0, 1] -> ``[B, d]``.

    Returns:
        dict: The bank (see :mod:`mmseg_pbip.image_bank.bank_file`).
    """
    groups = single_label_indices(np.asarray(labels))
    protos, ks, members = [], [], []
    for c, name in enumerate(class_names):
        idx = drop_white_patches(paths, groups[c], max_white_fraction,
                                 grey_threshold, chunk_size=batch_size)
        if not idx:
            raise ValueError(
                f'image bank: class {name} has no single-label training '
                f'patch with at most {max_white_fraction:.0%} white '
                f'({len(groups[c])} single-label before the white filter); '
                'the bank needs at least one per class')
        k = min(k_per_class, len(idx))
        if k < k_per_class:
            print_log(
                f'image bank: class {name} has only {len(idx)} usable '
                f'patches, using {k} cluster(s) instead of {k_per_class}',
                logger='current', level=30)
        feats = encode_images([paths[i] for i in idx], encoder, batch_size,
                              desc=f'encoding {name}')
        unit = torch.nn.functional.normalize(feats, dim=1).numpy()
        km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(unit)
        centres = km.cluster_centers_ / np.linalg.norm(
            km.cluster_centers_, axis=1, keepdims=True)
        for j in range(k):
            own = np.flatnonzero(km.labels_ == j)
            sims = unit[own] @ centres[j]
            nearest = own[np.argsort(-sims, kind='stable')[:n_per_cluster]]
            protos.append(torch.from_numpy(unit[nearest].mean(0)))
            members.append([paths[idx[i]] for i in nearest])
        ks.append(k)
        print_log(
            f'image bank: {name}: {len(idx)} patches -> {k} prototypes '
            f'from {[min(n_per_cluster, int((km.labels_ == j).sum())) for j in range(k)]} images',
            logger='current')
    return dict(
        prototypes=torch.stack(protos).float(),
        k_per_class=ks,
        class_names=list(class_names),
        encoder=getattr(encoder, 'description', type(encoder).__name__),
        encoder_fingerprint=encoder.fingerprint() if hasattr(
            encoder, 'fingerprint') else None,
        feature_dim=int(protos[0].numel()),
        cluster_members=members,
        settings=dict(
            k_per_class=k_per_class, n_per_cluster=n_per_cluster,
            max_white_fraction=max_white_fraction,
            grey_threshold=grey_threshold, seed=seed))
