from .image_bank_hook import ImageBankHook, bank_from_config
from .weight_source_check_hook import (WeightSourceCheckHook,
                                       find_pretrained_sources)

__all__ = [
    'ImageBankHook', 'bank_from_config', 'WeightSourceCheckHook',
    'find_pretrained_sources'
]
