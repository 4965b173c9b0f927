"""Multi-process helpers: join a launcher's process group, shard work.

Work is split in fixed chunks (batches) and the chunks are dealt to the
ranks round-robin, so every chunk is computed exactly as a single process
computes it: results are identical to a single-process run, not just close.
"""
import os
from typing import Callable, List, Optional, Sequence

import torch
import torch.distributed as torch_dist
from mmengine.dist import (all_gather_object, get_dist_info, init_dist,
                           is_distributed)
from tqdm import tqdm


def init_launcher(launcher: str, cfg=None) -> None:
    """Join the process group of ``launcher`` (no-op for ``'none'``).

    With CUDA, MMEngine's :func:`~mmengine.dist.init_dist` (one GPU per
    process, the backend of ``cfg.env_cfg.dist_cfg``, nccl by default).
    Without CUDA, only ``'pytorch'`` (torchrun) is supported, on gloo:
    MMEngine's launcher would call ``torch.cuda.set_device``.

    Args:
        launcher (str): 'none', 'pytorch', 'slurm' or 'mpi'.
        cfg (Config, optional): The run's config.
    """
    if launcher == 'none' or is_distributed():
        return
    if torch.cuda.is_available():
        dist_cfg = ((cfg or {}).get('env_cfg') or {}).get('dist_cfg') or {}
        init_dist(launcher, backend=dist_cfg.get('backend', 'nccl'))
    elif launcher == 'pytorch':
        torch_dist.init_process_group('gloo')
    else:
        raise SystemExit(f'--launcher {launcher} needs GPUs; without CUDA, '
                         'start the processes with torchrun and '
                         '--launcher pytorch')


def local_device(device: Optional[str] = None) -> str:
    """This process's device: ``device`` when given, else its GPU
    (``cuda:LOCAL_RANK``) when there is one, else the CPU."""
    if device:
        return device
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    return 'cpu'


def shard_map(fn: Callable[[Sequence], object],
              items: Sequence,
              chunk_size: int,
              desc: Optional[str] = None) -> List:
    """``[fn(chunk) for chunk in chunks(items)]``, chunks spread over ranks.

    Chunk ``j`` (``items[j*chunk_size:(j+1)*chunk_size]``) runs on rank
    ``j % world_size``; results are gathered so that every rank returns
    all of them, in chunk order. Results must be picklable (tensors on the
    CPU).

    Args:
        fn (callable): Applied to each chunk.
        items (Sequence): The work.
        chunk_size (int): Items per chunk (the batch size).
        desc (str, optional): Progress bar label (shown on rank 0).

    Returns:
        list: One result per chunk.
    """
    rank, world = get_dist_info()
    starts = range(0, len(items), chunk_size)
    own = {
        j: fn(items[s:s + chunk_size])
        for j, s in tqdm(
            list(enumerate(starts))[rank::world],
            desc=desc,
            unit='batch',
            leave=False,
            disable=rank != 0 or desc is None)
    }
    if world > 1:
        merged = {}
        for part in all_gather_object(own):
            merged.update(part)
        own = merged
    return [own[j] for j in range(len(starts))]
