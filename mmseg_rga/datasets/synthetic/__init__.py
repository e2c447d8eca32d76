"""Synthetic street scenes for smoke tests and the demo, in Cityscapes' or ADE20K's layout.

``canvas`` (drawing surface, label ids), ``painter`` (the scene in named parts), ``objects``
(things on the ground), ``writer`` (the Cityscapes layout on disk), ``ade20k`` (the ADE20K
layout: the same scenes at varied sizes, labels mapped to ADE20K's 150 classes). Pointing a
config at a generated tree is tool glue: :mod:`mmseg_rga.tooling.synthetic_data`
(``--synthetic-data``).
"""
from .ade20k import generate_synthetic_ade20k, synthetic_ade20k_matches
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
    'CLASSES', 'IGNORE_INDEX', 'IMG_SUFFIX', 'SEG_MAP_SUFFIX', 'generate_synthetic_ade20k',
    'generate_synthetic_cityscapes', 'paint_scene', 'sample_name', 'synthetic_ade20k_matches',
    'synthetic_dataset_matches', 'synthetic_scene'
]
