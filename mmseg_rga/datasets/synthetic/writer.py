"""Write a synthetic street-scene dataset in the Cityscapes layout.

:func:`generate_synthetic_cityscapes` writes::

    root/leftImg8bit/{train,val}/<city>/<city>_000000_000123_leftImg8bit.png          (RGB)
    root/gtFine/{train,val}/<city>/<city>_000000_000123_gtFine_labelTrainIds.png    (uint8)

exactly what mmseg's ``CityscapesDataset`` reads. Labels are the 19 Cityscapes train ids
(:data:`~.canvas.CLASSES`) and 255 (ignore). Everything is a function of
``(seed, split, index)``: the same seed writes byte-identical files.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Tuple

import cv2
import numpy as np

from ...checks import InputError, check_positive_int, is_int
from .canvas import CLASSES
from .painter import paint_scene

IMG_SUFFIX = '_leftImg8bit.png'
SEG_MAP_SUFFIX = '_gtFine_labelTrainIds.png'
META_FILE = 'synthetic_cityscapes.json'
_SPLIT_ID = {'train': 0, 'val': 1, 'test': 2}


def synthetic_scene(seed: int, split: str, index: int,
                    image_size: Tuple[int, int] = (256, 512)) -> Tuple[np.ndarray, np.ndarray]:
    """One scene: an RGB uint8 image (H, W, 3) and its train-id label map (H, W) in {0..18, 255}.

    A pure function of ``(seed, split, index, image_size)``.
    """
    if split not in _SPLIT_ID:
        raise InputError(f'split must be one of {tuple(_SPLIT_ID)}; got {split!r}')
    h, w = check_size(image_size)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _SPLIT_ID[split], int(index)]))
    return paint_scene(rng, h, w)


def check_size(image_size) -> Tuple[int, int]:
    if (not isinstance(image_size, (tuple, list)) or len(image_size) != 2
            or any(not is_int(v) or v < 32 for v in image_size)):
        raise InputError(f'image_size must be (height, width) ints >= 32; got {image_size!r}')
    return int(image_size[0]), int(image_size[1])


def sample_name(city: str, index: int) -> str:
    """Cityscapes-style sample name: ``<city>_000000_<index:06d>``."""
    return f'{city}_{0:06d}_{index:06d}'


def generate_synthetic_cityscapes(root: str, num_train: int = 200, num_val: int = 50,
                                  image_size: Tuple[int, int] = (256, 512), seed: int = 0,
                                  city: str = 'synth') -> Dict:
    """Write a synthetic Cityscapes-format dataset under ``root``.

    Args:
        root: output directory (created; files with the same names are overwritten).
        num_train / num_val: number of images in ``train`` / ``val``.
        image_size: (height, width) of every image.
        seed: the same seed writes byte-identical files.
        city: the city folder and file-name prefix.

    Returns:
        dict with ``root``, ``splits`` ({'train': [paths...], 'val': [...]} of images),
        ``num_train``, ``num_val``, ``image_size``, ``seed``, ``city``, ``classes``,
        ``img_suffix``, ``seg_map_suffix``; the same metadata (without the file lists) is written
        to ``root/synthetic_cityscapes.json``.
    """
    h, w = check_size(image_size)
    for name, n in (('num_train', num_train), ('num_val', num_val)):
        check_positive_int(n, name, minimum=0)
    if not city or os.sep in city or '_' in city:
        raise InputError(f'city must be a non-empty name without "_" or "{os.sep}"; got {city!r}')
    splits: Dict[str, List[str]] = {}
    for split, n in (('train', num_train), ('val', num_val)):
        img_dir = osp.join(root, 'leftImg8bit', split, city)
        ann_dir = osp.join(root, 'gtFine', split, city)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        paths = []
        for i in range(int(n)):
            img, lbl = synthetic_scene(seed, split, i, (h, w))
            name = sample_name(city, i)
            img_path = osp.join(img_dir, name + IMG_SUFFIX)
            if not cv2.imwrite(img_path, cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
                raise OSError(f'could not write {img_path}')
            if not cv2.imwrite(osp.join(ann_dir, name + SEG_MAP_SUFFIX), lbl):
                raise OSError(f'could not write {osp.join(ann_dir, name + SEG_MAP_SUFFIX)}')
            paths.append(img_path)
        splits[split] = paths
    meta = dict(num_train=int(num_train), num_val=int(num_val), image_size=[h, w], seed=int(seed),
                city=city, classes=list(CLASSES), img_suffix=IMG_SUFFIX,
                seg_map_suffix=SEG_MAP_SUFFIX)
    with open(osp.join(root, META_FILE), 'w') as f:
        json.dump(meta, f, indent=2)
    return dict(root=root, splits=splits, **meta)


def synthetic_dataset_matches(root: str, num_train: int, num_val: int,
                              image_size: Tuple[int, int], seed: int = 0,
                              city: str = 'synth') -> bool:
    """True when ``root`` holds a complete tree written with these arguments (skip regenerating)."""
    try:
        with open(osp.join(root, META_FILE)) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return False
    if (meta.get('num_train'), meta.get('num_val'), meta.get('image_size'), meta.get('seed'),
            meta.get('city')) != (num_train, num_val, list(image_size), seed, city):
        return False
    for split, n in (('train', num_train), ('val', num_val)):
        for i in (0, n - 1) if n else ():
            name = sample_name(city, i)
            if not (osp.isfile(osp.join(root, 'leftImg8bit', split, city, name + IMG_SUFFIX))
                    and osp.isfile(osp.join(root, 'gtFine', split, city, name + SEG_MAP_SUFFIX))):
                return False
    return True

