from .hooks import (AtomicCheckpointHook, ImageBankHook, NonFiniteLossHook,
                    WeightSourceCheckHook)
from .model_wrappers import DeviceAgnosticDDP
from .schedulers import ExclusiveEndPolyLR

__all__ = [
    'AtomicCheckpointHook', 'ImageBankHook', 'NonFiniteLossHook',
    'WeightSourceCheckHook', 'DeviceAgnosticDDP', 'ExclusiveEndPolyLR'
]
