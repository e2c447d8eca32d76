"""tools/demo.py end to end at tiny size: data, two trainings and tests, table, figure."""
import json
import os.path as osp
import subprocess
import sys

import cv2
import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.mark.slow
def test_demo_tiny(tmp_path):
    work_dir = tmp_path / 'demo'
    proc = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'demo.py'), '--tiny',
                           '--work-dir', str(work_dir)], cwd=REPO,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert '| PSPNet | ' in proc.stdout and '| PSPNet + RGA-SC | ' in proc.stdout
    # the data went to the work dir, not to the repo's data/
    assert len(list((work_dir / 'data' / 'leftImg8bit' / 'train' / 'synth').glob('*.png'))) == 4
    results = json.loads((work_dir / 'results.json').read_text())['results']
    for key in ('baseline', 'rga'):
        assert 0.0 <= results[key]['mIoU'] <= 100.0
        assert results[key]['params'] > 0 and results[key]['train_time_s'] > 0
        assert osp.isfile(results[key]['checkpoint'])
    assert results['baseline']['rga_params'] == 0 < results['rga']['rga_params']
    assert results['rga']['params'] > results['baseline']['params']
    md = (work_dir / 'results.md').read_text()
    assert '| model | mIoU (%)' in md and 'tools/train.py' in md and 'tools/test.py' in md
    figure = cv2.imread(str(work_dir / 'demo.png'))
    assert figure is not None and figure.shape[0] > 100 and figure.shape[1] > 100
