"""tools/analysis_tools/seed_study.py: log parsing, statistics, and a tiny end-to-end run."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import pytest
from tool_runner import run_python

from mmseg_rga.tooling.errors import ToolError

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'seed_study.py')

TABLE = """11/24 12:00:00 - mmengine - INFO - per class results:
11/24 12:00:00 - mmengine - INFO -
+---------------+-------+-------+
|     Class     |  IoU  |  Acc  |
+---------------+-------+-------+
|      road     | 91.25 | 95.5  |
|    sidewalk   |  nan  |  nan  |
| traffic light |  0.0  |  0.0  |
+---------------+-------+-------+
11/24 12:00:00 - mmengine - INFO - Iter(test) [2/2]    aAcc: 80.0000  mIoU: 45.6200
"""


def _tool():
    spec = importlib.util.spec_from_file_location('seed_study', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parse_per_class(tmp_path):
    log = tmp_path / 'test_stdout.log'
    log.write_text('old run\nper class results:\n| road | 1.00 | 2.00 |\n+--+\ndone\n' + TABLE)
    ious = _tool().parse_per_class(str(log))  # the last table wins
    assert list(ious) == ['road', 'sidewalk', 'traffic light']
    assert ious['road'] == 91.25 and ious['traffic light'] == 0.0
    assert ious['sidewalk'] != ious['sidewalk']  # nan
    log.write_text('no table here\n')
    with pytest.raises(ToolError, match='per class results'):
        _tool().parse_per_class(str(log))


def _results(base, rga):
    out = {}
    for key, values in (('baseline', base), ('rga', rga)):
        out[key] = {s: dict(mIoU=v, per_class={'road': v + 1.0, 'sky': 50.0})
                    for s, v in enumerate(values)}
    return out


def test_summarize_paired_statistics():
    tool = _tool()
    s = tool.summarize(_results([50.0, 52.0, 54.0], [51.0, 53.2, 54.9]), [0, 1, 2])
    assert s['diffs'] == pytest.approx([1.0, 1.2, 0.9])
    assert s['baseline'] == pytest.approx((52.0, 2.0))
    assert s['diff'][0] == pytest.approx(31 / 30)
    assert s['per_class']['road'][0] == pytest.approx(31 / 30)
    assert s['per_class']['sky'] == pytest.approx((0.0, 0.0))
    # consistent +1 paired gains are significant although the models' stds (2) overlap
    assert s['verdict'].startswith('RGA-SC better') and s['wins'] == 3
    # t = 2.65 with 3 seeds: below Student's 4.30 (df 2), although above the normal 1.96
    small = tool.summarize(_results([50.0, 52.0, 54.0], [51.0, 54.0, 54.5]), [0, 1, 2])
    assert small['t'] == pytest.approx(2.646, abs=1e-3)
    assert small['verdict'].startswith('no significant difference')
    noisy = tool.summarize(_results([50.0, 52.0, 54.0], [53.0, 50.0, 55.0]), [0, 1, 2])
    assert noisy['verdict'].startswith('no significant difference')
    worse = tool.summarize(_results([50.0, 52.0, 54.0], [48.0, 49.9, 52.1]), [0, 1, 2])
    assert worse['verdict'].startswith('RGA-SC worse')


def test_bad_flags_exit_cleanly():
    proc = run_python([TOOL, '--seeds', '0'])
    assert proc.returncode != 0 and '--seeds must be >= 1' in proc.stderr
    proc = run_python([TOOL, '--jobs', '0'])
    assert proc.returncode != 0 and '--jobs must be >= 1' in proc.stderr


@pytest.mark.slow
def test_seed_study_tiny(tmp_path):
    work = tmp_path / 'study'
    # two runs at a time, one thread each: the runs are mostly process start-up, so on 2 cores
    # this halves the wall time
    cmd = [sys.executable, TOOL, '--seeds', '2', '--iters', '2', '--num-train', '4',
           '--num-val', '2', '--work-dir', str(work), '--data-root', str(tmp_path / 'data'),
           '--jobs', '2', '--threads', '1']
    env = dict(os.environ)
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    study = json.loads((work / 'study.json').read_text())
    runs = study['results']
    for seed in ('0', '1'):
        diff = runs['rga'][seed]['mIoU'] - runs['baseline'][seed]['mIoU']
        assert study['summary']['diffs'][int(seed)] == pytest.approx(diff)
        assert len(runs['rga'][seed]['per_class']) >= 10
        assert 'randomness.seed=' + seed in runs['rga'][seed]['commands'][0]
    # the two seeds really trained differently
    assert runs['baseline']['0']['mIoU'] != runs['baseline']['1']['mIoU']
    md = (work / 'study.md').read_text()
    assert '| mean +- std |' in md and 'Verdict:' in md and '| road |' in md
    assert 'Machine: ' in md and 'torch threads: 1' in md and study['machine']['cpu']
    image = cv2.imread(str(work / 'study.png'))
    assert image is not None and image.shape[1] > 500
    # a second call reuses the finished runs
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and proc.stdout.count('reusing') == 4
