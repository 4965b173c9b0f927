from .pseudo_labels import (best_checkpoint, generate_pseudo_labels,
                            pseudo_label_path, save_index_png)

__all__ = [
    'best_checkpoint', 'generate_pseudo_labels', 'pseudo_label_path',
    'save_index_png'
]
