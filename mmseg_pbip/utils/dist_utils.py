"""Multi-process helper: shard work over the ranks.

Work is split in fixed chunks (batches) and the chunks are dealt to the
ranks round-robin, so every chunk is computed exactly as a single process
computes it: results are identical to a single-process run, not just close.
"""
from typing import Callable, List, Optional, Sequence

from mmengine.dist import all_gather_object, get_dist_info
from tqdm import tqdm


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
