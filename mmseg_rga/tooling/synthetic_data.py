"""``--synthetic-data DIR``: point any mmseg config at a generated tree in its dataset's layout.

:func:`apply_synthetic_data_option` (what tools/train.py and tools/test.py call) picks the layout
from the config's dataset type (:func:`synthetic_layout`: ``ADE20KDataset`` -> ADE20K's layout,
anything else -> Cityscapes'), writes the tree unless the same one is there (local rank 0 writes,
other ranks wait), then rewrites the config in place (:func:`use_synthetic_ade20k` keeps the
config's 150 classes and ``reduce_zero_label``; :func:`use_synthetic_data` makes it 19-class
Cityscapes).
"""
import os
import time
from typing import Dict, Optional, Tuple

from mmseg_rga.datasets.synthetic import (
    CLASSES,
    generate_synthetic_ade20k,
    generate_synthetic_cityscapes,
    synthetic_ade20k_matches,
)
from mmseg_rga.datasets.synthetic.writer import check_size, synthetic_dataset_matches

from .data_check import iter_leaf_datasets

DEFAULT_SPLITS = dict(train_dataloader='train', val_dataloader='val', test_dataloader='val')
ADE20K_SPLITS = dict(train_dataloader='training', val_dataloader='validation',
                     test_dataloader='validation')
#: Short side of the generated ADE20K-layout images (their long side varies with the aspect).
ADE20K_SHORT_SIDE = 128
LOADERS = tuple(DEFAULT_SPLITS)


def _fit_pipeline(pipeline, scale: Tuple[int, int], crop_size: Tuple[int, int],
                  zero_based: bool = True) -> None:
    """Rescale Resize/RandomResize/RandomCrop steps in place to the generated image size;
    ``zero_based``: the labels are train ids, drop ``reduce_zero_label``."""
    for step in pipeline or []:
        if not isinstance(step, dict):
            continue
        kind = step.get('type')
        if kind in ('RandomResize', 'Resize', 'RandomChoiceResize') and 'scale' in step:
            step['scale'] = scale
        if kind == 'RandomCrop' and 'crop_size' in step:
            step['crop_size'] = crop_size
        if kind == 'LoadAnnotations' and zero_based:  # ADE-style configs on Cityscapes ids
            step.pop('reduce_zero_label', None)
        if kind == 'TestTimeAug':
            for group in step.get('transforms', []):
                _fit_pipeline(group, scale, crop_size, zero_based)


def _point_leaf(ds: dict, data_root: str, split: str, ade20k: bool) -> None:
    """One dataset config onto the generated tree (ADE20K's layout or Cityscapes')."""
    ds['data_root'] = data_root
    dropped = ('img_suffix', 'seg_map_suffix', 'reduce_zero_label', 'ann_file', 'metainfo')
    if ade20k:
        ds['type'] = 'ADE20KDataset'
        ds['data_prefix'] = dict(img_path=f'images/{split}', seg_map_path=f'annotations/{split}')
        dropped = ('img_suffix', 'seg_map_suffix', 'ann_file')
    else:
        ds['type'] = 'CityscapesDataset'
        ds['data_prefix'] = dict(img_path=f'leftImg8bit/{split}', seg_map_path=f'gtFine/{split}')
    for key in dropped:
        ds.pop(key, None)


def _point_datasets(cfg, data_root: str, split_map: Dict, scale, crop_size,
                    ade20k: bool = False) -> None:
    """Every dataset of the mapped dataloaders goes to ``data_root``; pipelines are fitted."""
    for loader_name, split in split_map.items():
        loader = cfg.get(loader_name, None)
        if not loader or 'dataset' not in loader:
            continue
        for _, ds in iter_leaf_datasets(loader['dataset'], f'{loader_name}.dataset'):
            _point_leaf(ds, data_root, split, ade20k)
            _fit_pipeline(ds.get('pipeline'), scale, crop_size, zero_based=not ade20k)
    for key in ('train_pipeline', 'test_pipeline', 'tta_pipeline'):
        if key in cfg:
            _fit_pipeline(cfg[key], scale, crop_size, zero_based=not ade20k)


def _fit_model(model, crop_size, num_classes: bool, no_pretrained: bool) -> None:
    """Crop size of the preprocessor and sliding window, 19 classes, no pretrained weights."""
    if model.get('data_preprocessor'):
        model['data_preprocessor']['size'] = crop_size
    test_cfg = model.get('test_cfg')
    if test_cfg and test_cfg.get('mode') == 'slide':
        test_cfg['crop_size'] = crop_size
        test_cfg['stride'] = (max(1, crop_size[0] * 2 // 3), max(1, crop_size[1] * 2 // 3))
    if no_pretrained:
        model['pretrained'] = None
        if model.get('backbone'):
            model['backbone']['init_cfg'] = None
    if num_classes:
        for head_key in ('decode_head', 'auxiliary_head'):
            heads = model.get(head_key)
            for head in heads if isinstance(heads, (list, tuple)) else [heads]:
                if isinstance(head, dict) and 'num_classes' in head:
                    head['num_classes'] = len(CLASSES)


def use_synthetic_data(cfg, data_root: str, image_size: Tuple[int, int] = (256, 512),
                       crop_size: Optional[Tuple[int, int]] = None,
                       split_map: Optional[Dict] = None,
                       num_classes: bool = True, no_pretrained: bool = False):
    """Point any mmseg config at a generated tree, in place; returns ``cfg``.

    * every train/val/test dataset (through RepeatDataset/ConcatDataset wrappers) becomes a
      ``CityscapesDataset`` on ``data_root`` with the Cityscapes prefixes (train for training,
      val for val and test);
    * ``Resize``/``RandomResize`` scales become the generated (width, height), ``RandomCrop`` and
      ``model.data_preprocessor.size`` the crop, and a sliding-window ``model.test_cfg`` gets a
      crop/stride that fit the image;
    * with ``num_classes=True`` every head's ``num_classes`` becomes 19;
    * with ``no_pretrained=True`` ``model.pretrained`` and ``model.backbone.init_cfg`` become
      None (mmseg's base configs name weights that are only downloadable).

    Args:
        cfg: an ``mmengine.Config`` (or dict-like) of an mmseg model + data.
        data_root: a root written by ``generate_synthetic_cityscapes``.
        image_size: (height, width) of the generated images.
        crop_size: (height, width) of the training crop; default ``min(cfg crop, image)``.
        split_map: {dataloader key: generated split}; default train -> train, val/test -> val.
    """
    h, w = check_size(image_size)
    old_crop = cfg.get('crop_size', None)
    if crop_size is None:
        crop_size = (min(h, old_crop[0]), min(w, old_crop[1])) if old_crop else (h, min(w, h))
    crop_size = (int(crop_size[0]), int(crop_size[1]))
    _point_datasets(cfg, data_root, split_map or DEFAULT_SPLITS, (w, h), crop_size)  # (w, h)
    if 'crop_size' in cfg:
        cfg['crop_size'] = crop_size
    if cfg.get('model', None):
        _fit_model(cfg['model'], crop_size, num_classes, no_pretrained)
    return cfg


def synthetic_layout(cfg) -> str:
    """``'ade20k'`` when a dataset of the config's dataloaders is an ``ADE20KDataset``, else
    ``'cityscapes'``: the layout ``--synthetic-data`` writes for this config."""
    for loader_name in LOADERS:
        loader = cfg.get(loader_name, None) or {}
        for _, ds in iter_leaf_datasets(loader.get('dataset'), loader_name):
            if ds.get('type') == 'ADE20KDataset':
                return 'ade20k'
    return 'cityscapes'


def use_synthetic_ade20k(cfg, data_root: str, short_side: int = ADE20K_SHORT_SIDE,
                         no_pretrained: bool = False):
    """Point an ADE20K config at a tree written by ``generate_synthetic_ade20k``, in place.

    The datasets stay ``ADE20KDataset`` (150 classes, ``reduce_zero_label``) on ``data_root``;
    ``Resize``/``RandomResize`` scales keep mmseg's 4:1 bound at the generated short side
    (``(2048, 512)`` -> ``(4 * short_side, short_side)``), the crop becomes at most
    ``short_side`` square; the model keeps its classes. Returns ``cfg``.
    """
    old_crop = cfg.get('crop_size', None) or (short_side, short_side)
    crop_size = (min(short_side, int(old_crop[0])), min(short_side, int(old_crop[1])))
    _point_datasets(cfg, data_root, ADE20K_SPLITS, (4 * short_side, short_side), crop_size,
                    ade20k=True)
    if 'crop_size' in cfg:
        cfg['crop_size'] = crop_size
    if cfg.get('model', None):
        _fit_model(cfg['model'], crop_size, num_classes=False, no_pretrained=no_pretrained)
    return cfg


def _write_once(matches, write, data_root: str, timeout: float) -> None:
    """Local rank 0 writes the tree unless ``matches()``; other ranks wait for it."""
    if matches():
        return
    if int(os.environ.get('LOCAL_RANK', '0')) == 0:
        write()
        return
    deadline = time.time() + timeout
    while not matches():
        if time.time() > deadline:
            raise TimeoutError(f'local rank 0 did not write {data_root} in {timeout} s')
        time.sleep(1.0)


def apply_synthetic_data_option(cfg, data_root: str, num_train: int = 40, num_val: int = 10,
                                image_size: Tuple[int, int] = (256, 512), seed: int = 0,
                                timeout: float = 600.0):
    """``--synthetic-data DIR`` of tools/train.py and tools/test.py: smoke-test any config.

    Writes a synthetic tree to ``data_root`` in the layout :func:`synthetic_layout` picks,
    unless the same one is there (only local rank 0 writes; other ranks of a distributed launch
    wait for it), then points ``cfg`` at it (``no_pretrained=True``: mmseg's base configs name
    weights that are only downloadable): Cityscapes' layout with ``image_size`` images, or
    ADE20K's with ``ADE20K_SHORT_SIDE`` on the short side and varied aspect ratios. Returns
    ``cfg``.
    """
    if synthetic_layout(cfg) == 'ade20k':
        short = ADE20K_SHORT_SIDE
        _write_once(lambda: synthetic_ade20k_matches(data_root, num_train, num_val, short, seed),
                    lambda: generate_synthetic_ade20k(data_root, num_train, num_val, short, seed),
                    data_root, timeout)
        return use_synthetic_ade20k(cfg, data_root, short, no_pretrained=True)
    _write_once(
        lambda: synthetic_dataset_matches(data_root, num_train, num_val, image_size, seed),
        lambda: generate_synthetic_cityscapes(data_root, num_train, num_val, image_size, seed),
        data_root, timeout)
    return use_synthetic_data(cfg, data_root, image_size=image_size, no_pretrained=True)
