from .pseudo_labels import (best_checkpoint, generate_pseudo_labels,
                            pseudo_label_runner_config)

__all__ = [
    'best_checkpoint', 'generate_pseudo_labels', 'pseudo_label_runner_config'
]
