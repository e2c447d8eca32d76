"""Fail fast, before the Runner starts, when the dataset a config points at is not usable.

Two checks, both cheap enough to run on every start (a directory scan plus a few PNG decodes):

* :func:`check_dataset_dirs` — the image / label directories of every dataset in the chosen
  dataloaders exist and hold files with the dataset's suffixes. For Cityscapes the error names
  the expected layout, the command that prepares it and the synthetic-data smoke test.
* :func:`check_label_values` — a few label maps per dataset (evenly spaced, first and last
  included) only hold values in ``[0, num_classes)`` or the ignore index. This catches the usual
  systematic mistakes (``*_labelIds.png`` instead of ``*_labelTrainIds.png``, labels saved as RGB
  colours, a wrong ``num_classes``) in a second, with the file named, instead of a
  ``Target 33 is out of bounds`` / CUDA device-side assert deep inside the loss.

A single corrupt file among thousands is not guaranteed to be sampled; for that, add the
:class:`~mmseg_rga.datasets.transforms.CheckSegLabelRange` transform after ``LoadAnnotations``
(vectorised compare, about 1 ms per 1024x2048 map, in the dataloader workers).
"""
import inspect
import os
import os.path as osp
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from mmseg_rga.datasets.transforms import LabelValueError

CITYSCAPES_PREPARE_CMD = 'python tools/dataset_converters/prepare_cityscapes.py data/cityscapes'
SYNTHETIC_CMD = ('python tools/dataset_converters/generate_synthetic_cityscapes.py '
                 '--out data/synthetic_cityscapes')
WRAPPER_KEYS = ('dataset', 'datasets')


class DatasetNotFoundError(FileNotFoundError):
    """The data directory of a dataset config is missing or empty."""


# --------------------------------------------------------------------------------------------
# config walking
# --------------------------------------------------------------------------------------------
def iter_leaf_datasets(ds_cfg, where: str) -> Iterator[Tuple[str, dict]]:
    """Yield ``(config path, dataset cfg)`` for every non-wrapper dataset inside ``ds_cfg``.

    Wrappers (``RepeatDataset``, ``ConcatDataset``, ``MultiImageMixDataset`` ...) are recognised
    by their ``dataset`` / ``datasets`` key.
    """
    if not isinstance(ds_cfg, dict):
        return
    if 'datasets' in ds_cfg:
        for i, sub in enumerate(ds_cfg['datasets']):
            yield from iter_leaf_datasets(sub, f'{where}.datasets[{i}]')
    elif isinstance(ds_cfg.get('dataset'), dict):
        yield from iter_leaf_datasets(ds_cfg['dataset'], f'{where}.dataset')
    else:
        yield where, ds_cfg


def _dataset_class(type_name):
    if not isinstance(type_name, str):
        return type_name if inspect.isclass(type_name) else None
    try:
        from mmseg.registry import DATASETS
        return DATASETS.get(type_name)
    except Exception:  # registry not importable / unknown type: fall back to defaults
        return None


def _default(cls, name: str, fallback):
    """Default value of ``cls.__init__``'s argument ``name`` (following ``**kwargs`` to bases)."""
    if cls is None:
        return fallback
    for klass in cls.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        param = inspect.signature(init).parameters.get(name)
        if param is not None and param.default is not inspect.Parameter.empty:
            return param.default
    return fallback


def _is_cityscapes(type_name, cls) -> bool:
    if cls is not None:
        try:
            from mmseg.datasets import CityscapesDataset
            return issubclass(cls, CityscapesDataset)
        except Exception:
            pass
    return 'cityscapes' in str(type_name).lower()


class _DatasetInfo:
    """The bits of a dataset config the checks need, with the class defaults filled in."""

    def __init__(self, where: str, cfg: dict):
        self.where = where
        self.type = cfg.get('type', '?')
        cls = _dataset_class(self.type)
        self.is_cityscapes = _is_cityscapes(self.type, cls)
        self.data_root = cfg.get('data_root', '') or ''
        prefix = cfg.get('data_prefix') or {}
        self.img_dir = osp.join(self.data_root, prefix.get('img_path', '') or '')
        seg = prefix.get('seg_map_path', None)
        self.seg_dir = osp.join(self.data_root, seg) if seg is not None else None
        self.img_suffix = cfg.get('img_suffix', _default(cls, 'img_suffix', '.jpg'))
        self.seg_suffix = cfg.get('seg_map_suffix', _default(cls, 'seg_map_suffix', '.png'))
        self.reduce_zero_label = cfg.get('reduce_zero_label',
                                         _default(cls, 'reduce_zero_label', False))
        self.ignore_index = cfg.get('ignore_index', _default(cls, 'ignore_index', 255))
        self.ann_file = cfg.get('ann_file', '') or ''
        self.remote = '://' in self.data_root or bool(cfg.get('backend_args'))
        meta = getattr(cls, 'METAINFO', None) or {}
        self.default_classes = meta.get('classes')
        custom = (cfg.get('metainfo') or {}).get('classes')
        self.custom_classes = custom is not None and list(custom) != list(
            self.default_classes or [])
        self.num_classes = len(self.default_classes) if self.default_classes else None

    @property
    def split(self) -> str:
        return osp.basename(osp.normpath(self.img_dir)) or '?'


def _dataloader_datasets(cfg, dataloaders: Sequence[str]) -> List[_DatasetInfo]:
    infos, seen = [], set()
    for name in dataloaders:
        loader = cfg.get(name)
        if not loader or not loader.get('dataset'):
            continue
        for where, ds in iter_leaf_datasets(loader['dataset'], f'{name}.dataset'):
            info = _DatasetInfo(where, ds)
            key = (info.img_dir, info.seg_dir, info.img_suffix, info.seg_suffix)
            if key not in seen:  # test_dataloader is usually val_dataloader
                seen.add(key)
                infos.append(info)
    return infos


def _list_files(root: str, suffix: str) -> List[str]:
    found = []
    for dirpath, _, files in os.walk(root, followlinks=True):
        found += [osp.join(dirpath, f) for f in files if f.endswith(suffix)]
    return sorted(found)


# --------------------------------------------------------------------------------------------
# messages
# --------------------------------------------------------------------------------------------
def _cityscapes_help(info: _DatasetInfo) -> str:
    root = info.data_root or '<data_root>'
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    overrides = ' '.join(f'{n}.dataset.data_root=data/synthetic_cityscapes' for n in loaders)
    where = '' if osp.isabs(root) else f' (relative to the current directory {os.getcwd()})'
    return (
        f'Expected the Cityscapes layout under data_root={root!r}{where}:\n'
        f'  {root.rstrip("/")}/leftImg8bit/{{train,val}}/<city>/*{info.img_suffix}\n'
        f'  {root.rstrip("/")}/gtFine/{{train,val}}/<city>/*{info.seg_suffix}\n'
        'Download leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip from '
        'https://www.cityscapes-dataset.com, extract both into that directory, then write the '
        '*_gtFine_labelTrainIds.png maps with:\n'
        f'  {CITYSCAPES_PREPARE_CMD}\n'
        'To smoke test without Cityscapes, generate a synthetic dataset in the same layout:\n'
        f'  {SYNTHETIC_CMD}\n'
        'and point the config at it:\n'
        f'  --cfg-options {overrides}\n'
        'or let the tool do both (it also fits crop sizes and num_classes to the generated data):\n'
        '  --synthetic-data data/synthetic_cityscapes')


def _generic_help(info: _DatasetInfo) -> str:
    lines = [f'Expected images {info.img_dir}/**/*{info.img_suffix}']
    if info.seg_dir is not None:
        lines.append(f'and label maps {info.seg_dir}/**/*{info.seg_suffix}')
    lines.append('(set the data root with --cfg-options '
                 f'{info.where.split(".")[0]}.dataset.data_root=PATH, or smoke-test the config '
                 'on generated Cityscapes-format data with --synthetic-data DIR).')
    return '\n'.join(lines)


def _missing(info: _DatasetInfo, what: str) -> DatasetNotFoundError:
    helptext = _cityscapes_help(info) if info.is_cityscapes else _generic_help(info)
    return DatasetNotFoundError(
        f'Dataset not found for {info.where} (type={info.type}, split={info.split!r}): '
        f'{what}\n{helptext}')


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------
def check_dataset_dirs(cfg, dataloaders: Sequence[str]) -> None:
    """Raise :class:`DatasetNotFoundError` if a dataset of ``dataloaders`` has no data on disk.

    Datasets on remote storage (``backend_args``, ``s3://`` roots) and datasets that list their
    samples in an ``ann_file`` are only checked for their directory.
    """
    for info in _dataloader_datasets(cfg, dataloaders):
        if info.remote:
            continue
        if not osp.isdir(info.img_dir):
            raise _missing(info, f'image directory {info.img_dir!r} does not exist.')
        if info.ann_file:
            continue
        if not _list_files(info.img_dir, info.img_suffix):
            raise _missing(
                info, f'no *{info.img_suffix} files under {info.img_dir!r}.')
        if info.seg_dir is None:
            continue
        if not osp.isdir(info.seg_dir):
            raise _missing(info, f'label directory {info.seg_dir!r} does not exist.')
        if not _list_files(info.seg_dir, info.seg_suffix):
            hint = ''
            if info.is_cityscapes and _list_files(info.seg_dir, '_gtFine_labelIds.png'):
                hint = (' (found *_gtFine_labelIds.png: the 34 raw ids must be converted to the '
                        f'19 train ids first, {CITYSCAPES_PREPARE_CMD!r} does it)')
            raise _missing(
                info, f'no *{info.seg_suffix} files under {info.seg_dir!r}{hint}.')


def _model_num_classes(cfg) -> Tuple[Optional[int], Optional[int]]:
    model = cfg.get('model') or {}
    if model.get('type') == 'SegTTAModel':
        model = model.get('module') or {}
    head = model.get('decode_head')
    if isinstance(head, (list, tuple)):
        head = head[-1] if head else None
    if not isinstance(head, dict):
        return None, None
    return head.get('num_classes'), head.get('ignore_index')


def _read_label(path: str) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as img:
        # mmseg's LoadAnnotations reads with pillow, 'unchanged': palette images give indices.
        return np.asarray(img)


def check_label_values(cfg, dataloaders: Sequence[str], num_files: int = 8) -> None:
    """Raise :class:`LabelValueError` if a sampled label map has out-of-range values.

    Args:
        cfg: the full config.
        dataloaders: names of the dataloaders whose datasets to check.
        num_files: label maps to read per dataset (evenly spaced over the sorted list, first and
            last included); 0 disables the check, a negative value reads all of them.
    """
    if num_files == 0:
        return
    model_nc, model_ignore = _model_num_classes(cfg)
    for info in _dataloader_datasets(cfg, dataloaders):
        if info.remote or info.seg_dir is None or not osp.isdir(info.seg_dir):
            continue
        if info.custom_classes:
            continue  # label_map remaps values; the raw file range is not the model's range
        num_classes = model_nc or info.num_classes
        if not num_classes:
            continue
        ignore = {int(info.ignore_index)}
        if model_ignore is not None:
            ignore.add(int(model_ignore))
        files = _list_files(info.seg_dir, info.seg_suffix)
        if not files:
            continue
        if 0 < num_files < len(files):
            idx = np.unique(np.linspace(0, len(files) - 1, num_files).round().astype(int))
            files = [files[i] for i in idx]
        for path in files:
            label = _read_label(path)
            _validate_label(label, path, num_classes, ignore, info.reduce_zero_label,
                            source=f'{info.where} (type={info.type})', model_nc=model_nc,
                            cityscapes=info.is_cityscapes)


def _validate_label(label: np.ndarray, path: str, num_classes: int, ignore: set,
                    reduce_zero_label: bool, source: str = '', model_nc=None,
                    cityscapes: bool = False) -> None:
    if label.ndim == 3:
        raise LabelValueError(
            f'Label map {path} has shape {label.shape}: expected a single-channel (H, W) map of '
            'class indices, got a colour image. Save the train-id map (e.g. '
            '*_gtFine_labelTrainIds.png for Cityscapes), not the colour visualisation.')
    values = np.unique(label)
    effective = values.astype(np.int64)
    if reduce_zero_label:  # 0 -> ignore (255), v -> v - 1, as LoadAnnotations does
        effective = np.where(effective == 0, 255, effective - 1)
        effective = np.where(effective == 254, 255, effective)
    bad = values[(~np.isin(effective, list(ignore))) & ((effective < 0) |
                                                         (effective >= num_classes))]
    if bad.size:
        origin = ('model.decode_head.num_classes' if model_nc else 'the dataset classes')
        raise LabelValueError(
            f'Label map {path} (from {source}) holds values {bad.tolist()[:10]} outside '
            f'[0, {num_classes}) and ignore index {sorted(ignore)}; num_classes={num_classes} '
            f'comes from {origin}; values in the file: {values.tolist()[:40]}'
            f'{" (reduce_zero_label=True)" if reduce_zero_label else ""}.' + (
                ' For Cityscapes, use the *_gtFine_labelTrainIds.png maps (19 train ids, 255 = '
                f'ignore), not *_gtFine_labelIds.png; {CITYSCAPES_PREPARE_CMD!r} writes them.'
                if cityscapes else ''))


def check_data(cfg, dataloaders: Sequence[str], num_label_files: int = 8) -> None:
    """Run :func:`check_dataset_dirs` then :func:`check_label_values` (what the tools call)."""
    check_dataset_dirs(cfg, dataloaders)
    check_label_values(cfg, dataloaders, num_label_files)


def dataloaders_for(mode: str, cfg) -> List[str]:
    """Dataloaders a run touches: ``train`` → train (+ val if a val loop is set), ``test``."""
    if mode == 'test':
        return ['test_dataloader']
    names = ['train_dataloader']
    if cfg.get('val_cfg') and cfg.get('val_dataloader') and cfg.get('val_evaluator'):
        names.append('val_dataloader')
    return names


