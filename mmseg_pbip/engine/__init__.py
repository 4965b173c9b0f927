from .hooks import (AtomicCheckpointHook, ImageBankHook, NonFiniteLossHook,
                    WeightSourceCheckHook)
from .model_wrappers import DeviceAgnosticDDP

__all__ = [
    'AtomicCheckpointHook', 'ImageBankHook', 'NonFiniteLossHook',
    'WeightSourceCheckHook', 'DeviceAgnosticDDP'
]
