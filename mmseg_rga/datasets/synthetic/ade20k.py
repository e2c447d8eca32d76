"""Write the synthetic street scenes in ADE20K's layout, at varied sizes and aspect ratios.

:func:`generate_synthetic_ade20k` writes::

    root/images/{training,validation}/ADE_{train,val}_<index:08d>.jpg       (RGB)
    root/annotations/{training,validation}/ADE_{train,val}_<index:08d>.png  (uint8, 0..150)

exactly what mmseg's ``ADE20KDataset`` reads: label 0 is "other" (ignored through
``reduce_zero_label``), label k is ADE20K class k - 1. The scenes are the Cityscapes painter's
(:func:`~.writer.synthetic_scene`); each of its 19 classes becomes the ADE20K class of the same
meaning (:data:`ADE20K_NAMES`), ignore becomes 0. Image ``i`` has the aspect ratio
``ASPECTS[i % len(ASPECTS)]`` with ``short_side`` pixels on its short side, so a split holds
landscape, portrait, square and panorama images. The same seed writes byte-identical files.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Tuple

import cv2
import numpy as np

from ...checks import check_positive_int
from .canvas import CLASSES, IGNORE_INDEX
from .writer import synthetic_scene

META_FILE = 'synthetic_ade20k.json'
SPLITS = (('train', 'training'), ('val', 'validation'))
#: Width / height of image i (cycled): 4:3, 3:4, 1:1, 2:1, 1:2, 4:1.
ASPECTS = (4 / 3, 3 / 4, 1.0, 2.0, 1 / 2, 4.0)
#: The ADE20K class (mmseg's ``ADE20KDataset`` name) each painted Cityscapes class becomes.
ADE20K_NAMES = {
    'road': 'road', 'sidewalk': 'sidewalk', 'building': 'building', 'wall': 'wall',
    'fence': 'fence', 'pole': 'pole', 'traffic light': 'traffic light',
    'traffic sign': 'signboard', 'vegetation': 'tree', 'terrain': 'grass', 'sky': 'sky',
    'person': 'person', 'rider': 'person', 'car': 'car', 'truck': 'truck', 'bus': 'bus',
    'train': 'van', 'motorcycle': 'minibike', 'bicycle': 'bicycle',
}


def ade20k_label_lut() -> np.ndarray:
    """(256,) uint8: Cityscapes train id -> ADE20K label (class index + 1), ignore -> 0."""
    from mmseg.datasets import ADE20KDataset
    ade_classes = list(ADE20KDataset.METAINFO['classes'])
    lut = np.zeros(256, np.uint8)
    for train_id, name in enumerate(CLASSES):
        lut[train_id] = ade_classes.index(ADE20K_NAMES[name]) + 1
    lut[IGNORE_INDEX] = 0
    return lut


def image_shape(index: int, short_side: int) -> Tuple[int, int]:
    """(height, width) of image ``index``: aspect ``ASPECTS[index % 6]``, short side given."""
    aspect = ASPECTS[index % len(ASPECTS)]
    long_side = int(round(short_side * max(aspect, 1 / aspect)))
    return (short_side, long_side) if aspect >= 1 else (long_side, short_side)


def sample_name(split: str, index: int) -> str:
    """ADE20K-style sample name: ``ADE_train_00000001`` (1-based, as ADE20K's files)."""
    return f'ADE_{split}_{index + 1:08d}'


def generate_synthetic_ade20k(root: str, num_train: int = 200, num_val: int = 50,
                              short_side: int = 256, seed: int = 0) -> Dict:
    """Write a synthetic ADE20K-format dataset under ``root`` (see the module docstring).

    Returns:
        dict with ``root``, ``splits`` ({'train': [image paths], 'val': [...]}), ``shapes``
        ({'train': [(h, w), ...], ...}) and the metadata written to ``root/synthetic_ade20k.json``.
    """
    check_positive_int(short_side, 'short_side', minimum=32)
    for name, n in (('num_train', num_train), ('num_val', num_val)):
        check_positive_int(n, name, minimum=0)
    lut = ade20k_label_lut()
    splits: Dict[str, List[str]] = {}
    shapes: Dict[str, List[Tuple[int, int]]] = {}
    for (split, folder), n in zip(SPLITS, (num_train, num_val)):
        img_dir, ann_dir = osp.join(root, 'images', folder), osp.join(root, 'annotations', folder)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        splits[split], shapes[split] = [], []
        for i in range(int(n)):
            shape = image_shape(i, int(short_side))
            img, lbl = synthetic_scene(seed, split, i, shape)
            img_path = osp.join(img_dir, sample_name(split, i) + '.jpg')
            ann_path = osp.join(ann_dir, sample_name(split, i) + '.png')
            if not cv2.imwrite(img_path, cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
                raise OSError(f'could not write {img_path}')
            if not cv2.imwrite(ann_path, lut[lbl]):
                raise OSError(f'could not write {ann_path}')
            splits[split].append(img_path)
            shapes[split].append(shape)
    meta = dict(layout='ade20k', num_train=int(num_train), num_val=int(num_val),
                short_side=int(short_side), seed=int(seed))
    with open(osp.join(root, META_FILE), 'w') as f:
        json.dump(meta, f, indent=2)
    return dict(root=root, splits=splits, shapes=shapes, **meta)


def synthetic_ade20k_matches(root: str, num_train: int, num_val: int, short_side: int,
                             seed: int = 0) -> bool:
    """True when ``root`` holds a complete tree written with these arguments (skip regenerating)."""
    try:
        with open(osp.join(root, META_FILE)) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return False
    if (meta.get('num_train'), meta.get('num_val'), meta.get('short_side'),
            meta.get('seed')) != (num_train, num_val, short_side, seed):
        return False
    for (split, folder), n in zip(SPLITS, (num_train, num_val)):
        for i in (0, n - 1) if n else ():
            name = sample_name(split, i)
            if not (osp.isfile(osp.join(root, 'images', folder, name + '.jpg'))
                    and osp.isfile(osp.join(root, 'annotations', folder, name + '.png'))):
                return False
    return True
