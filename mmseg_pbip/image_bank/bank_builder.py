"""Build the image bank: encode single-label patches, K-means per class."""
from typing import Callable, Dict, Optional, Sequence

import cv2
import numpy as np
import torch
from mmengine.logging import print_log
from sklearn.cluster import KMeans

from ..utils import shard_map
from .bank_reader import BankImageReader
from .patch_selection import drop_white_patches, single_label_indices


@torch.no_grad()
def encode_images(
        paths: Sequence[str],
        encoder: torch.nn.Module,
        batch_size: int = 32,
        device=None,
        desc: str = 'encoding',
        reader: Optional[Callable[[str], np.ndarray]] = None) -> torch.Tensor:
    """Encode image files in batches.

    In multi-process runs the batches are dealt to the ranks and the
    features gathered (:func:`~mmseg_pbip.utils.shard_map`): every rank
    returns all features, each batch computed as in a single process.

    Args:
        reader (callable, optional): ``path -> [3, H, W]`` float array in
            the encoder's input space. Defaults to RGB in [0, 1]
            (:class:`BankImageReader`).

    Returns:
        Tensor: ``[M, d]`` float32 on the CPU.
    """
    device = device or next(encoder.buffers()).device
    reader = reader or BankImageReader()

    def encode(batch_paths):
        imgs = [reader(p) for p in batch_paths]
        h, w = imgs[0].shape[1:]  # the encoder resizes; a batch needs one
        imgs = [
            img if img.shape[1:] == (h, w) else cv2.resize(
                img.transpose(1, 2, 0),
                (w, h), interpolation=cv2.INTER_LINEAR).transpose(2, 0, 1)
            for img in imgs
        ]
        batch = torch.from_numpy(np.stack(imgs))
        return encoder(batch.to(device)).float().cpu()

    return torch.cat(shard_map(encode, list(paths), batch_size, desc))


def spherical_kmeans(unit: np.ndarray,
                     k: int,
                     seed: int = 42,
                     max_iter: int = 100):
    """K-means under the cosine distance (eq. 1), as the released code does.

    Random initial centres (``k`` distinct members drawn with
    ``np.random.RandomState(seed)``); each step assigns every feature to
    its most similar centre, moves each non-empty cluster's centre to the
    re-normalised mean of its members, and stops when no centre moves
    (``np.allclose``) or after ``max_iter`` steps.

    Args:
        unit (np.ndarray): ``[M, d]`` unit-norm features.
        k (int): Clusters.
        seed (int): Seed of the initial draw.
        max_iter (int): Step limit.

    Returns:
        tuple[np.ndarray, np.ndarray]: labels ``[M]`` (from the last
        assignment) and unit-norm centres ``[k, d]``.
    """
    rng = np.random.RandomState(seed)
    centres = unit[rng.choice(len(unit), k, replace=False)].copy()
    for _ in range(max_iter):
        labels = (unit @ centres.T).argmax(1)
        old = centres.copy()
        for j in range(k):
            members = unit[labels == j]
            if len(members):
                centre = members.mean(0)
                centres[j] = centre / np.linalg.norm(centre)
        if np.allclose(old, centres):
            break
    return labels, centres


def cluster_class(unit: np.ndarray, k: int, kmeans: str, seed: int):
    """Cluster one class's unit features.

    Returns:
        tuple[np.ndarray, np.ndarray]: labels ``[M]`` and unit centres
        ``[k, d]``.
    """
    if kmeans == 'spherical':
        return spherical_kmeans(unit, k, seed)
    if kmeans == 'sklearn':  # Euclidean K-means on unit vectors
        km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(unit)
        centres = km.cluster_centers_ / np.linalg.norm(
            km.cluster_centers_, axis=1, keepdims=True)
        return km.labels_, centres.astype(unit.dtype)
    raise ValueError(
        f"kmeans must be 'spherical' or 'sklearn', got {kmeans!r}")


def class_prototypes(unit: np.ndarray, k: int, kmeans: str, seed: int,
                     prototype_rule: str, n_per_cluster: int):
    """The prototypes of one class from its unit features.

    Args:
        unit (np.ndarray): ``[M, d]`` unit-norm features of the class.
        k (int): Clusters.
        kmeans, seed: See :func:`cluster_class`.
        prototype_rule (str): 'centroid' (the unit centre) or
            'nearest_mean' (mean of the ``n_per_cluster`` members nearest
            the centre).
        n_per_cluster (int): Members averaged by 'nearest_mean'.

    Returns:
        tuple[list[Tensor], list[np.ndarray]]: ``k`` prototypes ``[d]`` and,
        per cluster, the members behind its prototype (indices into
        ``unit``, most similar to the centre first).
    """
    assigned, centres = cluster_class(unit, k, kmeans, seed)
    protos, orders = [], []
    for j in range(k):
        own = np.flatnonzero(assigned == j)
        order = own[np.argsort(-(unit[own] @ centres[j]), kind='stable')]
        if prototype_rule == 'centroid':
            protos.append(torch.from_numpy(centres[j].copy()))
        else:
            order = order[:n_per_cluster]
            protos.append(torch.from_numpy(unit[order].mean(0)))
        orders.append(order)
    return protos, orders


def build_image_bank(paths: Sequence[str],
                     labels: np.ndarray,
                     class_names: Sequence[str],
                     encoder: torch.nn.Module,
                     k_per_class: int = 3,
                     n_per_cluster: int = 100,
                     max_white_fraction: float = 0.5,
                     grey_threshold: float = 200.,
                     batch_size: int = 32,
                     seed: int = 42,
                     kmeans: str = 'spherical',
                     prototype_rule: str = 'centroid',
                     reader: Optional[BankImageReader] = None) -> Dict:
    """Prototypes from the single-label training patches.

    Per class: drop patches more than ``max_white_fraction`` white (RGB in
    [0, 1] from ``reader``'s pipeline), encode the rest (``reader`` gives
    the encoder's input; default RGB in [0, 1]), L2-normalise, cluster
    into ``k_per_class`` clusters (``kmeans``: 'spherical', the released
    cosine K-means, or 'sklearn', Euclidean K-means on the unit vectors),
    and take one prototype per cluster (``prototype_rule``):

    - ``'centroid'`` (released): the final unit-norm centre, i.e. the
      normalised mean of all the cluster's members;
    - ``'nearest_mean'`` (paper): the mean of the ``n_per_cluster``
      normalised features nearest the centre (cosine).

    A class with fewer usable patches than clusters gets fewer clusters
    (warning); a class with none is an error naming the class.

    Args:
        paths (Sequence[str]): Training image paths ``[M]``.
        labels (np.ndarray): ``[M, N]`` multi-hot image-level labels.
        class_names (Sequence[str]): The ``N`` tissue classes.
        encoder (nn.Module): Frozen encoder, ``[B, 3, H, W] -> [B, d]``.

    Returns:
        dict: The bank (see :mod:`mmseg_pbip.image_bank.bank_file`).
    """
    if prototype_rule not in ('centroid', 'nearest_mean'):
        raise ValueError("prototype_rule must be 'centroid' or "
                         f"'nearest_mean', got {prototype_rule!r}")
    groups = single_label_indices(np.asarray(labels))
    reader = reader or BankImageReader()
    protos, ks, members = [], [], []
    for c, name in enumerate(class_names):
        idx = drop_white_patches(
            paths,
            groups[c],
            max_white_fraction,
            grey_threshold,
            chunk_size=batch_size,
            read=reader.rgb01)
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
                logger='current',
                level=30)
        feats = encode_images([paths[i] for i in idx],
                              encoder,
                              batch_size,
                              desc=f'encoding {name}',
                              reader=reader)
        unit = torch.nn.functional.normalize(feats, dim=1).numpy()
        class_protos, orders = class_prototypes(unit, k, kmeans, seed,
                                                prototype_rule, n_per_cluster)
        protos += class_protos
        members += [[paths[idx[i]] for i in order] for order in orders]
        ks.append(k)
        print_log(
            f'image bank: {name}: {len(idx)} patches -> {k} prototypes, '
            f'rule {prototype_rule}, from {[len(o) for o in orders]} images',
            logger='current')
    return dict(
        prototypes=torch.stack(protos).float(),
        k_per_class=ks,
        class_names=list(class_names),
        encoder=getattr(encoder, 'description',
                        type(encoder).__name__),
        encoder_fingerprint=encoder.fingerprint() if hasattr(
            encoder, 'fingerprint') else None,
        feature_dim=int(protos[0].numel()),
        cluster_members=members,
        settings=dict(
            k_per_class=k_per_class,
            n_per_cluster=n_per_cluster,
            max_white_fraction=max_white_fraction,
            grey_threshold=grey_threshold,
            seed=seed,
            kmeans=kmeans,
            prototype_rule=prototype_rule,
            reader=reader.settings))
