"""tools/analysis_tools/collect_table6.py: Table 6 from what tools/test.py wrote.

Fast: the tool's rows and paper numbers are the READMEs'; newest json wins, missing results are
shown as missing. Slow: two paper-protocol rows (shrunk through --cfg-options) trained and tested
through the real tools/train.py and tools/test.py on generated data, one of them also on the
train split; the collector prints the mIoUs the test runs logged.
"""
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from readme_tables import mmseg_family_paper_val, paper_protocol_table, paper_train_sentence

from mmseg_rga.datasets.synthetic import generate_synthetic_cityscapes
from mmseg_rga.tooling.errors import ToolError

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / 'tools' / 'analysis_tools' / 'collect_table6.py'
SUFFIX = '_r101-d8_4xb2-40k_cityscapes-769x769'


def _tool():
    spec = importlib.util.spec_from_file_location('collect_table6', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rows_and_paper_numbers_are_the_readmes():
    tool = _tool()
    readme = paper_protocol_table()
    entries = tool.table6_configs('paper')
    assert [name[:-len(SUFFIX)] for *_, name in entries] == list(readme)  # README's order
    for row, train, val, name in entries:
        assert (row, train, val) == tuple(readme[name[:-len(SUFFIX)]][i] for i in (0, 4, 5))
    mmseg = tool.table6_configs('mmseg')
    assert [name[:-len(SUFFIX)] for *_, name in mmseg] == list(mmseg_family_paper_val())
    assert [val for _, _, val, _ in mmseg] == list(mmseg_family_paper_val().values())
    assert tuple(train for _, train, _, _ in mmseg) == paper_train_sentence()
    names_80k = [name for *_, name in tool.table6_configs('mmseg', '80k')]
    assert 'fcn-rganeck_r101-d8_4xb2-80k_cityscapes-769x769' in names_80k and len(names_80k) == 7
    with pytest.raises(ToolError, match='only the 40k schedule'):
        tool.table6_configs('paper', '80k')


def _test_json(run_dir, stamp, miou, checkpoint='iter_40000.pth'):
    """What mmengine's LoggerHook writes at the end of tools/test.py --work-dir run_dir."""
    (run_dir / stamp).mkdir(parents=True)
    path = run_dir / stamp / f'{stamp}.json'
    path.write_text(json.dumps(dict(aAcc=90.0, mIoU=miou, mAcc=70.0, data_time=0.1, time=1.0)))
    (run_dir / stamp / f'{stamp}.log').write_text(
        f'... - mmengine - INFO - Load checkpoint from work_dirs/x/{checkpoint}\n')
    return path


def test_collect_reads_the_newest_json_and_shows_missing(tmp_path, capsys):
    tool = _tool()
    base = 'ocnet-baseline' + SUFFIX
    old = _test_json(tmp_path / base, '20260101_000000', 70.0, 'iter_20000.pth')
    new = _test_json(tmp_path / base, '20260102_000000', 75.31)
    os.utime(old, (time.time() - 100, time.time() - 100))
    (tmp_path / base / '20260101_000000' / 'vis_data').mkdir()  # training's scalars: not read
    _test_json(tmp_path / (base + '_train'), '20260103_000000', 80.5)
    tool.main([str(tmp_path), '--family', 'paper', '--json', str(tmp_path / 'rows.json')])
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if f'| {base} |' in ln)
    cells = [c.strip() for c in line.split('|')[1:-1]]
    assert cells == ['ResNet-101', base, '83.8', '74.8', '80.50', '75.31', '-3.30', '+0.51',
                     'val: iter_40000.pth, train: iter_40000.pth']
    rga = next(ln for ln in out.splitlines() if '| ocnet-baseline-rga' in ln)
    assert rga.count('missing') == 4
    assert '16 of 18 results missing' in out and str(new) in out
    rows = json.loads((tmp_path / 'rows.json').read_text())
    assert rows[0]['ours_val'] == 75.31 and rows[1]['ours_val'] is None


def test_bad_work_dir_and_bad_json_are_one_line_errors(tmp_path):
    tool = _tool()
    with pytest.raises(ToolError, match='does not exist'):
        tool.main([str(tmp_path / 'nope')])
    bad = tmp_path / ('pspnet' + SUFFIX) / '20260101_000000'
    bad.mkdir(parents=True)
    (bad / '20260101_000000.json').write_text('{not json')
    with pytest.raises(ToolError, match='is not one tools/test.py writes'):
        tool.main([str(tmp_path)])


# ------------------------------------------------------------------------- end to end (slow)
def tiny_options(row):
    """--cfg-options shrinking a paper-protocol row to a narrow ResNetV1c-18 (--synthetic-data
    fits the pipelines and the preprocessor to its 256x512 scenes)."""
    opts = ['model.backbone.depth=18', 'model.backbone.stem_channels=16',
            'model.backbone.base_channels=16', 'model.decode_head.in_channels=128',
            'model.decode_head.channels=16', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'train_dataloader.dataset.indices=4',
            'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
            'test_dataloader.dataset.indices=2', 'train_cfg.max_iters=2',
            'train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=2',
            'default_hooks.logger.interval=1']
    if row.endswith('-rga'):
        opts.append('model.decode_head.rga_cfg.pooled_size=(8,8)')
    return opts


RUNS = {'ocnet-baseline': ('val', 'train'), 'ocnet-baseline-rga': ('val',)}
TRAIN_SPLIT = ['test_dataloader.dataset.data_prefix.img_path=leftImg8bit/train',
               'test_dataloader.dataset.data_prefix.seg_map_path=gtFine/train']


def _run_together(commands, cwd):
    """Run the tool commands side by side (one thread each), return their outputs in order."""
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'RANK', 'WORLD_SIZE')}
    env['OMP_NUM_THREADS'] = '1'
    procs = [subprocess.Popen([sys.executable, *map(str, args)], cwd=cwd, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for args in commands]
    outs = [proc.communicate(timeout=300)[0] for proc in procs]
    for proc, out in zip(procs, outs):
        assert proc.returncode == 0, out[-4000:]
    return outs


@pytest.mark.slow
def test_collect_after_real_train_and_test_runs(tmp_path, capsys):
    """ocnet-baseline: val and train split; ocnet-baseline-rga: val only."""
    work, data = tmp_path / 'table6', tmp_path / 'synthetic'
    generate_synthetic_cityscapes(str(data), 40, 10, (256, 512), 0)  # --synthetic-data's tree
    config = {r: REPO / 'configs' / 'rga' / 'paper_protocol' / f'{r}{SUFFIX}.py' for r in RUNS}
    _run_together([['tools/train.py', config[r], '--work-dir', work / f'{r}{SUFFIX}',
                    '--synthetic-data', data, '--cfg-options', *tiny_options(r)] for r in RUNS],
                  REPO)
    tests = [(r, split) for r, splits in RUNS.items() for split in splits]
    outs = _run_together([
        ['tools/test.py', config[r], work / f'{r}{SUFFIX}' / 'iter_2.pth', '--work-dir',
         work / f'{r}{SUFFIX}{"_train" if split == "train" else ""}', '--synthetic-data', data,
         '--cfg-options', *tiny_options(r), *(TRAIN_SPLIT if split == 'train' else [])]
        for r, split in tests], REPO)
    logged = {key: float(re.findall(r'mIoU: ([0-9.]+)', out)[-1]) for key, out in zip(tests, outs)}
    _tool().main([str(work), '--family', 'paper'])
    out = capsys.readouterr().out
    paper = paper_protocol_table()
    cells = {}
    for line in out.splitlines():
        parts = [c.strip() for c in line.split('|')[1:-1]]
        if len(parts) == 9 and parts[1].endswith(SUFFIX):
            cells[parts[1][:-len(SUFFIX)]] = parts
    assert len(cells) == 9
    for (row, split), miou in logged.items():
        ours, diff = (4, 6) if split == 'train' else (5, 7)
        assert float(cells[row][ours]) == miou, (row, split, out)
        reference = paper[row][4 if split == 'train' else 5]
        assert float(cells[row][diff]) == pytest.approx(miou - reference, abs=0.006)
        assert 'iter_2.pth' in cells[row][8]
    assert cells['ocnet-baseline-rga'][4] == 'missing'
    assert all(cells[r][4] == cells[r][5] == 'missing' for r in cells if r not in RUNS)
    assert '15 of 18 results missing' in out
