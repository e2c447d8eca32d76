r"""Table 6 from the metrics ``tools/test.py`` wrote: paper train/val, ours train/val, differences.

Work-dir layout (what the commands of docs/train_test.md, "Collecting Table 6", produce)::

    WORK_DIR/<config name>/<timestamp>/<timestamp>.json         val split (the config's test set)
    WORK_DIR/<config name>_train/<timestamp>/<timestamp>.json   train split (docs/train_test.md)

``<config name>`` is the config file's name without ``.py``. mmseg's default work dir is
``work_dirs/<config name>``, so ``WORK_DIR=work_dirs`` reads the runs made without
``--work-dir`` (not those of the short-name configs such as ``pspnet_rga_cityscapes.py``).
The json is what mmengine's ``LoggerHook`` writes at the end of a ``tools/test.py`` run; the
newest one (by modification time) holding an ``mIoU`` wins, and the checkpoint it was computed
from is read from the log beside it. A config with no such json is printed as ``missing``:
nothing is guessed. Differences are ours minus the paper's, in mIoU points.

    python tools/analysis_tools/collect_table6.py work_dirs/table6_paper --family paper
    python tools/analysis_tools/collect_table6.py work_dirs/table6_mmseg --family mmseg \
        --schedule 80k
"""
import argparse
import json
import re
import sys
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

from mmseg_rga.tooling.errors import ToolError, add_debug_argument, run_main  # noqa: E402
from mmseg_rga.tooling.experiment import newest_test_metrics  # noqa: E402

CONFIG_DIR = ROOT / 'configs' / 'rga'
SUFFIX = '_r101-d8_4xb2-{schedule}_cityscapes-769x769'
TRAIN_SUFFIX = '_train'
MISSING = 'missing'
#: Table 6 of arXiv:1904.02998: row, paper train mIoU, paper val mIoU, mmseg-recipe configs,
#: paper-protocol configs (the RGA rows in both placements: head map, then C5)
TABLE6 = (
    ('ResNet-101', 83.8, 74.8, ('fcn',), ('ocnet-baseline',)),
    ('ResNet-101 + PPM', 85.0, 77.0, ('pspnet',), ('pspnet',)),
    ('ResNet-101 + ASPP', 85.9, 78.5, ('deeplabv3',), ('deeplabv3',)),
    ('ResNet-101 + RGA-SC', 86.1, 78.5, ('fcn-rga', 'fcn-rganeck'),
     ('ocnet-baseline-rga', 'ocnet-baseline-rganeck')),
    ('ResNet-101 + PPM + RGA-SC', 85.2, 78.9, ('pspnet-rga',), ('pspnet-rga', 'pspnet-rganeck')),
    ('ResNet-101 + ASPP + RGA-SC', 86.8, 79.6, ('deeplabv3-rga',),
     ('deeplabv3-rga', 'deeplabv3-rganeck')),
)
FAMILIES = {'mmseg': (CONFIG_DIR, 3), 'paper': (CONFIG_DIR / 'paper_protocol', 4)}


def table6_configs(family: str, schedule: str = '40k'):
    """``[(row, paper train, paper val, config name)]``, one entry per config that exists."""
    directory, column = FAMILIES[family]
    if family == 'paper' and schedule != '40k':
        raise ToolError(f'the paper-protocol family has only the 40k schedule; got {schedule}')
    entries = []
    for row in TABLE6:
        for stem in row[column]:
            name = stem + SUFFIX.format(schedule=schedule)
            if (directory / f'{name}.py').is_file():  # fcn-rganeck exists at 80k only
                entries.append((row[0], row[1], row[2], name))
    return entries


def read_result(run_dir: Path):
    """``(mIoU, json path, checkpoint name or None)`` of the newest test json in ``run_dir``."""
    if not run_dir.is_dir():
        return None
    try:
        found = newest_test_metrics(str(run_dir))
    except ValueError as err:  # a json that is not mmengine's
        raise ToolError(f'a json under {run_dir}/<timestamp>/ is not one tools/test.py writes '
                        f'({err})') from err
    if found is None:
        return None
    metrics, path = found
    return float(metrics['mIoU']), Path(path), _checkpoint(Path(path).with_suffix('.log'))


def _checkpoint(log: Path):
    """The checkpoint file name the test run loaded (mmengine logs it), or None."""
    if not log.is_file():
        return None
    found = re.findall(r'Load checkpoint from (\S+)', log.read_text(errors='replace'))
    return Path(found[-1]).name if found else None


def collect(work_dir: Path, family: str, schedule: str = '40k'):
    """One dict per config: row, config, paper/ours/diff for train and val, sources."""
    rows = []
    for row, paper_train, paper_val, name in table6_configs(family, schedule):
        entry = dict(row=row, config=name, paper_train=paper_train, paper_val=paper_val,
                     sources=[], checkpoints=[])
        for split, suffix, paper in (('val', '', paper_val), ('train', TRAIN_SUFFIX, paper_train)):
            result = read_result(work_dir / (name + suffix))
            ours = result[0] if result else None
            entry[f'ours_{split}'] = ours
            entry[f'diff_{split}'] = None if ours is None else round(ours - paper, 2)
            if result:
                entry['sources'].append(str(result[1]))
                entry['checkpoints'].append(f'{split}: {result[2] or "?"}')
        rows.append(entry)
    return rows


def _cell(value, signed=False):
    if value is None:
        return MISSING
    return f'{value:+.2f}' if signed else f'{value:.2f}'


def format_table(rows, work_dir: Path, family: str) -> str:
    lines = [f'Table 6, {family} family, mIoU (%) read from {work_dir} (diff = ours - paper)', '',
             '| Table 6 row | config | paper train | paper val | ours train | ours val '
             '| diff train | diff val | checkpoint |',
             '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |']
    for r in rows:
        lines.append(
            f'| {r["row"]} | {r["config"]} | {r["paper_train"]:.1f} | {r["paper_val"]:.1f} | '
            f'{_cell(r["ours_train"])} | {_cell(r["ours_val"])} | '
            f'{_cell(r["diff_train"], True)} | {_cell(r["diff_val"], True)} | '
            f'{", ".join(r["checkpoints"]) or "-"} |')
    missing = sum(r[f'ours_{s}'] is None for r in rows for s in ('train', 'val'))
    lines += ['', f'{missing} of {2 * len(rows)} results missing (not run, or no json in '
              f'<config>/ or <config>{TRAIN_SUFFIX}/)']
    lines += ['sources:'] + [f'  {s}' for r in rows for s in r['sources']]
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('work_dir', help='the directory holding one work dir per config')
    parser.add_argument('--family', choices=sorted(FAMILIES), default='paper',
                        help='paper: configs/rga/paper_protocol; mmseg: configs/rga (default: '
                        'paper)')
    parser.add_argument('--schedule', choices=['40k', '80k'], default='40k',
                        help="the mmseg family's schedule (default 40k, the paper's)")
    parser.add_argument('--json', metavar='FILE', help='also write the rows as json to FILE')
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    work_dir = Path(args.work_dir)
    if not work_dir.is_dir():
        raise ToolError(f'work dir {work_dir} does not exist (expected one directory per config '
                        'with the json tools/test.py --work-dir writes, see the docstring)')
    rows = collect(work_dir, args.family, args.schedule)
    print(format_table(rows, work_dir, args.family))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == '__main__':
    run_main(main)
