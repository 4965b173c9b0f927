from .hooks import (AtomicCheckpointHook, ImageBankHook, NonFiniteLossHook,
                    WeightSourceCheckHook)
from .model_wrappers import DeviceAgnosticDDP
from .optimizers import (FiniteGradAmpOptimWrapper, FiniteGradOptimWrapper,
                         NonFiniteGradientError)
from .schedulers import ExclusiveEndPolyLR

__all__ = [
    'AtomicCheckpointHook', 'ImageBankHook', 'NonFiniteLossHook',
    'WeightSourceCheckHook', 'DeviceAgnosticDDP', 'FiniteGradAmpOptimWrapper',
    'FiniteGradOptimWrapper', 'NonFiniteGradientError', 'ExclusiveEndPolyLR'
]
