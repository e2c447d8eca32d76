"""Prepare the official Cityscapes download for mmseg: polygons -> ``*_gtFine_labelTrainIds.png``.

    pip install cityscapesscripts
    python tools/dataset_converters/prepare_cityscapes.py data/cityscapes [--nproc 8]

Expects the extracted ``leftImg8bit_trainvaltest.zip`` and ``gtFine_trainvaltest.zip``::

    DATA_ROOT/
      leftImg8bit/{train,val,test}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
      gtFine/{train,val,test}/<city>/<city>_<seq>_<frame>_gtFine_polygons.json

and writes, next to every ``*_gtFine_polygons.json``, the ``*_gtFine_labelTrainIds.png`` that
mmseg's ``CityscapesDataset`` reads (cityscapesscripts' ``json2labelImg(json, png, 'trainIds')``:
19 train ids, 255 = ignore), plus ``{train,val,test}.txt`` sample lists in ``--out-dir``
(default: DATA_ROOT), like mmseg's ``tools/dataset_converters/cityscapes.py``.
"""
import argparse
import os.path as osp
import sys
from pathlib import Path
from typing import Dict, List, Optional

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

from mmengine.utils import (  # noqa: E402
    mkdir_or_exist,
    scandir,
    track_parallel_progress,
    track_progress,
)

from mmseg_rga.tooling.errors import ToolError, add_debug_argument, run_main  # noqa: E402
from mmseg_rga.tooling.launch import positive_int  # noqa: E402

SPLITS = ('train', 'val', 'test')
POLYGON_SUFFIX = '_gtFine_polygons.json'
LABEL_SUFFIX = '_gtFine_labelTrainIds.png'
EXPECTED_LAYOUT = """expected the extracted official Cityscapes download:
  {root}/
    leftImg8bit/{{train,val,test}}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    gtFine/{{train,val,test}}/<city>/<city>_<seq>_<frame>_gtFine_polygons.json
(unzip leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip from
https://www.cityscapes-dataset.com/downloads/ into {root})"""


class LayoutError(ToolError):
    """The data root does not look like the extracted Cityscapes download."""


def _import_json2label():
    try:
        from cityscapesscripts.preparation.json2labelImg import json2labelImg
    except ImportError as e:
        raise ToolError('tools/dataset_converters/prepare_cityscapes.py needs cityscapesscripts '
                          '(the official Cityscapes tools): pip install cityscapesscripts  '
                          f'(import failed: {e})') from e
    return json2labelImg


def find_polygon_files(data_root: str, gt_dir: str = 'gtFine') -> Dict[str, List[str]]:
    """{split: sorted polygon json paths relative to ``data_root/gt_dir/split``}.

    Raises:
        LayoutError: naming the expected layout, when the folders or the json files are missing.
    """
    layout = EXPECTED_LAYOUT.format(root=data_root)
    if not osp.isdir(data_root):
        raise LayoutError(f'{data_root!r} is not a directory; {layout}')
    gt_root = osp.join(data_root, gt_dir)
    missing = [d for d in ('leftImg8bit', gt_dir) if not osp.isdir(osp.join(data_root, d))]
    if missing:
        zips = [z for z in ('gtFine_trainvaltest.zip', 'leftImg8bit_trainvaltest.zip')
                if osp.isfile(osp.join(data_root, z))]
        hint = f' Found {", ".join(zips)}: extract it first.' if zips else ''
        nested = osp.join(data_root, 'cityscapes')
        if osp.isdir(osp.join(nested, gt_dir)):
            hint += f' Did you mean {nested!r}?'
        raise LayoutError(f'missing {", ".join(repr(osp.join(data_root, d)) for d in missing)};'
                          f'{hint} {layout}')
    splits = {s: sorted(scandir(osp.join(gt_root, s), POLYGON_SUFFIX, recursive=True))
              for s in SPLITS if osp.isdir(osp.join(gt_root, s))}
    if not splits:
        raise LayoutError(f'{gt_root!r} has none of the split folders {SPLITS}; {layout}')
    if not any(splits.values()):
        raise LayoutError(f'no *{POLYGON_SUFFIX} files under {gt_root!r} (found the split folders '
                          f'{sorted(splits)}); {layout}')
    return splits


def convert_json_to_label(json_file: str) -> None:
    """One ``*_gtFine_polygons.json`` -> ``*_gtFine_labelTrainIds.png`` next to it."""
    _import_json2label()(json_file, json_file[:-len(POLYGON_SUFFIX)] + LABEL_SUFFIX, 'trainIds')


def prepare_cityscapes(data_root: str, gt_dir: str = 'gtFine', nproc: int = 1,
                       out_dir: Optional[str] = None, skip_existing: bool = False) -> Dict:
    """Convert every polygon file under ``data_root/gt_dir`` and write the split lists.

    Returns:
        dict: ``converted`` (files written), ``skipped`` (already there, with
        ``skip_existing``), ``splits`` ({split: number of samples}), ``lists`` (the .txt paths).
    """
    splits = find_polygon_files(data_root, gt_dir)
    _import_json2label()  # fail before the progress bar, with the install hint
    gt_root = osp.join(data_root, gt_dir)
    files = [osp.join(gt_root, s, rel) for s, rels in splits.items() for rel in rels]
    todo = [f for f in files
            if not (skip_existing and osp.isfile(f[:-len(POLYGON_SUFFIX)] + LABEL_SUFFIX))]
    if todo:
        if nproc > 1:
            track_parallel_progress(convert_json_to_label, todo, nproc)
        else:
            track_progress(convert_json_to_label, todo)
    out_dir = out_dir or data_root
    mkdir_or_exist(out_dir)
    lists = []
    for split, rels in splits.items():
        path = osp.join(out_dir, f'{split}.txt')
        with open(path, 'w') as f:
            f.writelines(rel[:-len(POLYGON_SUFFIX)] + '\n' for rel in rels)
        lists.append(path)
    return dict(converted=len(todo), skipped=len(files) - len(todo),
                splits={s: len(r) for s, r in splits.items()}, lists=lists)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert Cityscapes polygon annotations to *_gtFine_labelTrainIds.png')
    parser.add_argument('data_root',
                        help='the extracted Cityscapes download (e.g. data/cityscapes)')
    parser.add_argument('--gt-dir', default='gtFine', help='annotation folder under data_root')
    parser.add_argument('--nproc', type=positive_int, default=1, help='worker processes')
    parser.add_argument('-o', '--out-dir', help='where to write {train,val,test}.txt '
                        '(default: data_root)')
    parser.add_argument('--skip-existing', action='store_true',
                        help='keep label images that already exist')
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    info = prepare_cityscapes(args.data_root, args.gt_dir, args.nproc, args.out_dir,
                              args.skip_existing)
    counts = ', '.join(f'{s}: {n}' for s, n in info['splits'].items())
    print(f'\nconverted {info["converted"]} annotation(s) (skipped {info["skipped"]}); '
          f'samples per split: {counts}; lists: {", ".join(info["lists"])}')


if __name__ == '__main__':
    run_main(main)
