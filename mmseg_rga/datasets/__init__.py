"""Datasets: a synthetic Cityscapes-format street-scene generator (no mmcv import needed)."""
from .synthetic_cityscapes import (
    CLASSES,
    apply_synthetic_data_option,
    generate_synthetic_cityscapes,
    synthetic_scene,
    use_synthetic_data,
)

__all__ = [
    'CLASSES', 'apply_synthetic_data_option', 'generate_synthetic_cityscapes', 'synthetic_scene',
    'use_synthetic_data'
]
