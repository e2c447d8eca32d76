"""tools/demo.py end to end at tiny size: data, two trainings and tests, table, figure; and
the determinism the README states (same machine, threads and seed: the same run)."""
import json
import os.path as osp
import subprocess
import sys

import cv2
import pytest
import torch

from mmseg_rga.datasets.synthetic import generate_synthetic_cityscapes
from mmseg_rga.engine import load_checkpoint_file
from mmseg_rga.tooling.experiment import (
    data_root_options,
    final_checkpoint,
    run_tool,
    schedule_options,
)

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
    machine = json.loads((work_dir / 'results.json').read_text())['machine']
    assert f'torch threads: {machine["torch_threads"]}' in md and machine['cpu'] in md
    assert f'torch {torch.__version__}' in md
    figure = cv2.imread(str(work_dir / 'demo.png'))
    assert figure is not None and figure.shape[0] > 100 and figure.shape[1] > 100


@pytest.mark.slow
def test_same_machine_threads_and_seed_give_identical_weights(tmp_path):
    """What the README promises: the demo's training, run twice with the same seed and thread
    count on one machine, gives bit-identical weights (so identical numbers). 3 iterations of
    the RGA-SC demo config through tools/train.py, as tools/demo.py runs it, on 2 threads (so
    threaded reductions are exercised)."""
    data_root = str(tmp_path / 'data')
    generate_synthetic_cityscapes(data_root, num_train=4, num_val=1, image_size=(128, 256), seed=0)
    config = osp.join(REPO, 'configs', 'demo', 'pspnet-rga_r18-d8_synthetic.py')
    weights = []
    for run in ('a', 'b'):
        work_dir = tmp_path / run
        work_dir.mkdir()
        cmd = [sys.executable, osp.join(REPO, 'tools', 'train.py'), config,
               '--work-dir', str(work_dir), '--cfg-options', *data_root_options(data_root),
               *schedule_options(3, 2, seed=0, log_interval=1)]
        run_tool(cmd, str(work_dir / 'train.log'), REPO, threads=2)
        weights.append(load_checkpoint_file(final_checkpoint(str(work_dir), 3), 'cpu')
                       ['state_dict'])
    first, second = weights
    assert first.keys() == second.keys()
    differ = [k for k in first if not torch.equal(first[k], second[k])]
    assert not differ, f'same seed and threads, different weights: {differ[:5]}'
