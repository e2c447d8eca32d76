"""Synthetic Cityscapes-format street scenes for smoke tests and the demo.

``canvas`` (drawing surface, label ids), ``painter`` (the scene in named parts), ``objects``
(things on the ground), ``writer`` (the dataset on disk). Pointing a config at a generated tree
is tool glue: :mod:`mmseg_rga.tooling.synthetic_data` (``--synthetic-data``).
"""
from .canvas import CLASSES, IGNORE_INDEX
from .painter import paint_scene
from .writer import (
    IMG_SUFFIX,
    SEG_MAP_SUFFIX,
    generate_synthetic_cityscapes,
    sample_name,
    synthetic_dataset_matches,
    synthetic_scene,
)

__all__ = [
    'CLASSES', 'IGNORE_INDEX', 'IMG_SUFFIX', 'SEG_MAP_SUFFIX', 'generate_synthetic_cityscapes',
    'paint_scene', 'sample_name', 'synthetic_dataset_matches', 'synthetic_scene'
]
