"""Fail fast, before the Runner starts, when the data a config points at is not usable.

Each dataset of the chosen dataloaders is built through mmseg's ``DATASETS`` registry and asked:
it must list samples and its first label map must exist (else :class:`DatasetNotFoundError`, with
the Cityscapes layout and the commands that prepare it), and a few label maps (evenly spaced,
first and last included), read as the pipeline reads them, must pass
:class:`~mmseg_rga.datasets.transforms.CheckSegLabelRange` (else :class:`LabelValueError` naming
the file). To check every sample, add that transform to the pipeline.
"""
import os.path as osp
from typing import Iterator, Sequence, Tuple

import numpy as np

from mmseg_rga.datasets.transforms import CheckSegLabelRange, LabelValueError

from .errors import ToolError

PREPARE_CMD = 'python tools/dataset_converters/prepare_cityscapes.py data/cityscapes'
SYNTHETIC_CMD = ('python tools/dataset_converters/generate_synthetic_cityscapes.py '
                 '--out data/synthetic_cityscapes')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


class DatasetNotFoundError(ToolError, FileNotFoundError):
    """The data directory of a dataset config is missing or empty."""


def iter_leaf_datasets(ds_cfg, where: str) -> Iterator[Tuple[str, dict]]:
    """Yield ``(config path, cfg)`` of every dataset inside wrappers (``dataset``/``datasets``)."""
    if isinstance(ds_cfg, (list, tuple)):
        for i, sub in enumerate(ds_cfg):
            yield from iter_leaf_datasets(sub, f'{where}[{i}]')
    elif isinstance(ds_cfg, dict):
        if 'datasets' in ds_cfg:
            yield from iter_leaf_datasets(ds_cfg['datasets'], f'{where}.datasets')
        elif isinstance(ds_cfg.get('dataset'), dict):
            yield from iter_leaf_datasets(ds_cfg['dataset'], f'{where}.dataset')
        else:
            yield where, ds_cfg


def _not_found(where: str, cfg: dict, what: str) -> DatasetNotFoundError:
    root = cfg.get('data_root') or '<data_root>'
    if 'cityscapes' in str(cfg.get('type', '')).lower():
        options = ' '.join(f'{n}.dataset.data_root=data/synthetic_cityscapes' for n in LOADERS)
        hint = (f'Expected the Cityscapes layout under data_root={root!r}:\n'
                f'  {root.rstrip("/")}/leftImg8bit/{{train,val}}/<city>/*_leftImg8bit.png\n'
                f'  {root.rstrip("/")}/gtFine/{{train,val}}/<city>/*_gtFine_labelTrainIds.png\n'
                'Download leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip from '
                'https://www.cityscapes-dataset.com, extract both there, then write the '
                f'*_gtFine_labelTrainIds.png maps with:\n  {PREPARE_CMD}\n'
                f'To smoke test without Cityscapes, generate a synthetic dataset:\n'
                f'  {SYNTHETIC_CMD}\nand point the config at it:\n  --cfg-options {options}\n'
                'or let the tool do both: --synthetic-data data/synthetic_cityscapes')
    else:
        hint = (f'Set --cfg-options {where.split(".")[0]}.dataset.data_root=PATH, or smoke-test '
                'the config on generated data with --synthetic-data DIR (ADE20K\'s layout for '
                'an ADE20KDataset config, Cityscapes\' for any other).')
    return DatasetNotFoundError(f'Dataset not found for {where} (type={cfg.get("type")}, '
                                f'data_root={root!r}): {what}\n{hint}')


def _build(where: str, cfg: dict):
    from mmseg.registry import DATASETS
    try:
        dataset = DATASETS.build(cfg)
    except (FileNotFoundError, NotADirectoryError) as err:
        raise _not_found(where, cfg, str(err)) from None
    if len(dataset) == 0:
        raise _not_found(where, cfg, f'no *{dataset.img_suffix} images under '
                         f'{dataset.data_prefix.get("img_path")!r}.')
    first = dataset.get_data_info(0).get('seg_map_path')
    if first and not osp.isfile(first):
        raw = first.replace('_labelTrainIds.png', '_labelIds.png')
        hint = (f' (found {osp.basename(raw)}: the 34 raw ids must be converted to the 19 train '
                f'ids first, {PREPARE_CMD!r} does it)' if raw != first and osp.isfile(raw) else '')
        raise _not_found(where, cfg, f'label map {first!r} does not exist{hint}.')
    return dataset


def _check_labels(dataset, where: str, num_classes: int, ignore: set, num_files: int) -> None:
    """Read label maps as the pipeline does (mmseg's ``LoadAnnotations``, ``reduce_zero_label``
    included) and check them with :class:`CheckSegLabelRange` (the one implementation)."""
    from mmseg.datasets.transforms import LoadAnnotations
    load = LoadAnnotations()  # reduce_zero_label: the dataset's, from the results
    check = CheckSegLabelRange(num_classes, ignore_index=sorted(ignore))
    idx = range(len(dataset))
    if 0 < num_files < len(dataset):
        idx = np.unique(np.linspace(0, len(dataset) - 1, num_files).round().astype(int))
    for i in idx:
        info = dataset.get_data_info(int(i))
        try:
            check(load(dict(seg_map_path=info['seg_map_path'], seg_fields=[],
                            reduce_zero_label=dataset.reduce_zero_label)))
        except LabelValueError as err:
            raise LabelValueError(
                f'{err} It is a label map of {where}. For Cityscapes, use the '
                '*_gtFine_labelTrainIds.png maps (19 train ids, 255 = ignore), not the raw '
                f'*_gtFine_labelIds.png nor colour images; {PREPARE_CMD!r} writes them.') from None


def check_data(cfg, dataloaders: Sequence[str], num_label_files: int = 8) -> None:
    """Build every dataset of ``dataloaders`` and check it (what the tools call).

    ``num_label_files``: label maps read per dataset; 0 skips the value check, -1 reads all.
    """
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    head = (cfg.get('model') or {}).get('decode_head') or {}
    head = head[-1] if isinstance(head, (list, tuple)) else head
    for name in dataloaders:
        loader = cfg.get(name) or {}
        for where, ds_cfg in iter_leaf_datasets(loader.get('dataset'), f'{name}.dataset'):
            if '://' in str(ds_cfg.get('data_root', '')) or ds_cfg.get('backend_args'):
                continue  # remote storage: leave it to the Runner
            dataset = _build(where, ds_cfg)
            if num_label_files == 0 or dataset.label_map:  # label_map remaps the raw values
                continue
            num_classes = head.get('num_classes') or len(dataset.metainfo['classes'])
            ignore = {int(dataset.ignore_index), int(head.get('ignore_index', 255))}
            _check_labels(dataset, where, num_classes, ignore, num_label_files)
