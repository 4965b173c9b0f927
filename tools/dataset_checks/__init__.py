"""Scan a config's datasets for files that would break or skew training."""
from .dataset_report import DatasetReport, Finding
from .file_inspection import inspect_image, inspect_mask
from .split_scan import check_config_datasets

__all__ = [
    'DatasetReport', 'Finding', 'inspect_image', 'inspect_mask',
    'check_config_datasets'
]
