from .pseudo_labels import (generate_pseudo_labels, pseudo_label_path,
                            save_index_png)

__all__ = ['generate_pseudo_labels', 'pseudo_label_path', 'save_index_png']
