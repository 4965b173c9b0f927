"""MMEngine's DDP wrapper, usable on CPU processes (gloo) as on GPUs."""
from mmengine.model import MMDistributedDataParallel
# MMEngine's root registry: the runner looks wrapper types up there
from mmengine.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class DeviceAgnosticDDP(MMDistributedDataParallel):
    """:class:`MMDistributedDataParallel` that also wraps CPU models.

    MMEngine's runner passes ``device_ids=[LOCAL_RANK]``, which torch
    refuses for a model on the CPU. Here ``device_ids`` is dropped when the
    model's parameters are on the CPU (multi-process CPU runs on the gloo
    backend, as in the tests) and kept otherwise (one GPU per process).

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
        super().__init__(module=module, device_ids=device_ids, **kwargs)
