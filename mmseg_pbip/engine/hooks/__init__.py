from .weight_source_check_hook import (WeightSourceCheckHook,
                                       find_pretrained_sources)

__all__ = ['WeightSourceCheckHook', 'find_pretrained_sources']
