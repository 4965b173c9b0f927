from .atomic_checkpoint_hook import AtomicCheckpointHook
from .checkpoint_compatibility_hook import (CheckpointCompatibilityHook,
                                            checkpoint_mismatches)
from .image_bank_hook import ImageBankHook, bank_from_config
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .safe_checkpoint_loading_hook import SafeCheckpointLoadingHook
from .weight_source_check_hook import (WeightSourceCheckHook,
                                       find_pretrained_sources)

__all__ = [
    'AtomicCheckpointHook', 'CheckpointCompatibilityHook',
    'checkpoint_mismatches', 'ImageBankHook', 'bank_from_config',
    'NonFiniteLossError', 'NonFiniteLossHook', 'SafeCheckpointLoadingHook',
    'WeightSourceCheckHook', 'find_pretrained_sources'
]
