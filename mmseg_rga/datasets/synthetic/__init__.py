"""Synthetic Cityscapes-format street scenes (painter + writer) for smoke tests and the demo."""
from .painter import (
    CLASSES,
    IGNORE_INDEX,
    IMG_SUFFIX,
    SEG_MAP_SUFFIX,
    apply_synthetic_data_option,
    generate_synthetic_cityscapes,
    synthetic_dataset_matches,
    synthetic_scene,
    use_synthetic_data,
)

__all__ = [
    'CLASSES', 'IGNORE_INDEX', 'IMG_SUFFIX', 'SEG_MAP_SUFFIX', 'apply_synthetic_data_option',
    'generate_synthetic_cityscapes', 'synthetic_dataset_matches', 'synthetic_scene',
    'use_synthetic_data'
]
