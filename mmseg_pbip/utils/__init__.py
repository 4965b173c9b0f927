from .atomic_files import atomic_path
from .dist_utils import shard_map
from .index_png import png_path_for, save_index_png
from .optional import MissingExtraError, import_optional, require_extra
from .safe_loading import (checkpoint_safe_globals, find_weight_file,
                           load_local_checkpoint, read_state_dict,
                           register_safe_checkpoint_loader,
                           register_safe_globals, safe_load)

__all__ = [
    'atomic_path', 'shard_map', 'checkpoint_safe_globals',
    'register_safe_globals', 'register_safe_checkpoint_loader', 'safe_load',
    'find_weight_file', 'read_state_dict', 'load_local_checkpoint',
    'png_path_for', 'save_index_png', 'import_optional', 'require_extra',
    'MissingExtraError'
]
