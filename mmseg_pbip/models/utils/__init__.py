from .dense_crf import DenseCRF
from .foundation_models import (FOUNDATION_MODELS, build_foundation_model,
                                compare_state_dicts, foundation_spec,
                                load_foundation_weights, normalise_keys,
                                read_state_dict)
from .image_space import inputs_to_rgb01, rgb01, stretch_whole

__all__ = [
    'DenseCRF', 'FOUNDATION_MODELS', 'foundation_spec',
    'build_foundation_model', 'load_foundation_weights', 'read_state_dict',
    'normalise_keys', 'compare_state_dicts', 'rgb01', 'inputs_to_rgb01',
    'stretch_whole'
]
