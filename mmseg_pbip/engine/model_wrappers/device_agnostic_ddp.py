"""MMEngine's DDP wrapper, usable on CPU processes (gloo) as on GPUs."""
import logging

from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
# MMEngine's root registry: the runner looks wrapper types up there
from mmengine.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class DeviceAgnosticDDP(MMDistributedDataParallel):
    """:class:`MMDistributedDataParallel` that also wraps CPU models.

    MMEngine's runner passes ``device_ids=[LOCAL_RANK]``, which torch
    refuses for a model on the CPU. Here, when the model's parameters are on
    the CPU (multi-process CPU runs on the gloo backend, as in the tests),
    ``device_ids`` is dropped and SyncBN layers, which only work on GPUs,
    become plain BN (per-process statistics, logged); on GPUs nothing
    changes. Selected only for multi-process runs without CUDA
    (:func:`cpu_ddp_options`, which the tools and the pseudo-label API
    apply); the configs keep MMEngine's wrapper.

    Args:
        module (nn.Module): The model.
        device_ids (list[int], optional): GPU of this process.
        **kwargs: Passed to :class:`MMDistributedDataParallel`
            (``broadcast_buffers``, ``find_unused_parameters``, ...).
    """

    def __init__(self, module, device_ids=None, **kwargs) -> None:
        param = next(module.parameters(), None)
        if param is not None and param.device.type == 'cpu':
            device_ids = None
            # torch's and mmcv's SyncBN
            if any(
                    type(m).__name__ == 'SyncBatchNorm'
                    for m in module.modules()):
                print_log(
                    'CPU processes: SyncBN layers run as BN (statistics per '
                    'process); SyncBN needs GPUs',
                    logger='current',
                    level=logging.WARNING)
                module = revert_sync_batchnorm(module)
        super().__init__(module=module, device_ids=device_ids, **kwargs)
