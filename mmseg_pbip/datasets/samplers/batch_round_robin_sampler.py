"""A test sampler that deals whole batches to the ranks."""
from typing import Iterator, Optional, Sized

from mmengine.dist import get_dist_info
from mmseg.registry import DATA_SAMPLERS
from torch.utils.data import Sampler


@DATA_SAMPLERS.register_module()
class BatchRoundRobinSampler(Sampler):
    """Deal the batches of the dataset, in order, to the ranks round-robin.

    Batch ``k`` holds the samples ``k * batch_size .. (k + 1) * batch_size -
    1``, exactly the batches one process would run, and goes to rank ``k %
    world_size``. Unlike :class:`mmengine.dataset.DefaultSampler`, which
    gives rank ``r`` the samples ``r, r + world_size, ...``, every batch has
    the same members on any number of processes, so batched kernels see the
    same inputs and the predictions are bitwise those of one process. Nothing
    is padded or repeated (ranks may get one batch more than others), so no
    sample is predicted twice.

    The dataloader's ``batch_size`` must equal ``batch_size``.

    Args:
        dataset (Sized): The dataset.
        batch_size (int): Samples per batch, the dataloader's.
        seed (int, optional): Unused (the order is the dataset's); accepted
            because the Runner passes it to every sampler.
    """

    def __init__(self,
                 dataset: Sized,
                 batch_size: int,
                 seed: Optional[int] = None) -> None:
        if batch_size < 1:
            raise ValueError(f'batch_size must be positive, got {batch_size}')
        rank, world_size = get_dist_info()
        self.dataset = dataset
        self.batch_size = batch_size
        size = len(dataset)
        self.indices = [
            i for start in range(rank * batch_size, size, world_size *
                                 batch_size)
            for i in range(start, min(start + batch_size, size))
        ]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)

    def set_epoch(self, epoch: int) -> None:
        """Nothing: the order does not depend on the epoch."""
