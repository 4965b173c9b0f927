from .load_histo_annotations import LoadHistoAnnotations
from .load_histo_image import LoadHistoImageFromFile
from .pack_histo_seg_inputs import PackHistoSegInputs
from .random_rotate90 import RandomRotate90
from .seeded_flip_rotate90 import SeededFlipRotate90

__all__ = [
    'LoadHistoAnnotations', 'LoadHistoImageFromFile', 'PackHistoSegInputs',
    'RandomRotate90', 'SeededFlipRotate90'
]
