from .pseudo_label_overlay import legend_strip, save_overlay

__all__ = ['legend_strip', 'save_overlay']
