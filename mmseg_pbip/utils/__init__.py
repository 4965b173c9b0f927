from .safe_loading import (checkpoint_safe_globals, register_safe_globals,
                           safe_load)

__all__ = ['checkpoint_safe_globals', 'register_safe_globals', 'safe_load']
