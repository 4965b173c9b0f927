from .bank_builder import build_image_bank, encode_images, spherical_kmeans
from .bank_file import check_image_bank, load_image_bank, save_image_bank
from .bank_reader import BankImageReader, bank_pipeline, image_loader
from .patch_selection import (drop_white_patches, single_label_indices,
                              white_fraction)

__all__ = [
    'BankImageReader', 'bank_pipeline', 'image_loader', 'build_image_bank',
    'encode_images', 'spherical_kmeans', 'load_image_bank', 'save_image_bank',
    'check_image_bank', 'single_label_indices', 'white_fraction',
    'drop_white_patches'
]
