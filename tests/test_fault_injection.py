"""SIGKILL ``tools/train.py`` at several points; ``--resume`` must end with the same weights.

A tiny PSPNet + RGA (the repo config shrunk as in ``test_tools.py``; no random augmentation,
deterministic, one thread, ``num_workers=0``) trains 8 iterations with a checkpoint every 2,
once without interruption (the reference) and once as a chain of runs, each killed at a kill
point and continued with ``--resume``:

====  ============================================  ==========================================
run   killed                                        resumes from
====  ============================================  ==========================================
A     mid-iteration 3 (in the backbone's forward)   -
B     while iter_4.pth is written (before rename)   iter_2 (A's newest)
C     while last_checkpoint is written for iter 4   iter_2 (B left only a temporary file)
D     right after iter_6 is saved                   iter_4 (newer than last_checkpoint says)
E     - (finishes)                                  iter_6
====  ============================================  ==========================================

The kill points come from ``kill_points.py``, written next to the config and loaded through
``custom_imports``: a file backend that pauses before the rename and a hook that pauses in a
forward pass or after the checkpoint hook. Each writes a marker file, the test sees it and
sends SIGKILL. After every kill, every ``.pth`` in the work dir must load (weights-only) and
``last_checkpoint`` must name one of them.
"""
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tool_runner import forkable, run_forked, tool_env

from mmseg_rga.engine import load_checkpoint_file

sys.path.insert(0, str(Path(__file__).parent))
from test_tools import TINY_CONFIG, run_tool, tiny_options  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MAX_ITERS, INTERVAL = 8, 2

KILL_POINTS = '''
"""Test-only kill points (see tests/test_fault_injection.py); inert unless KILL_POINT is set."""
import os
import os.path as osp
import time

from mmengine.fileio import register_backend
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from mmseg_rga.engine.atomic_io import AtomicLocalBackend

POINT = os.environ.get('KILL_POINT', '')


def wait_for_kill():
    with open(os.environ['KILL_MARKER'], 'w') as f:
        f.write(POINT)
    time.sleep(600)


class PausingAtomicLocalBackend(AtomicLocalBackend):
    def before_replace(self, tmp_path, path):
        if POINT == 'save:' + osp.basename(path):
            wait_for_kill()


register_backend('pausing_atomic_local', PausingAtomicLocalBackend)


@HOOKS.register_module()
class KillPointHook(Hook):
    priority = 'LOWEST'  # after the checkpoint hook

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if POINT == f'forward:{runner.iter + 1}':
            runner.model.backbone.layer3.register_forward_hook(lambda *args: wait_for_kill())

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if POINT == f'after_save:{runner.iter + 1}':
            wait_for_kill()
'''

FAULT_CONFIG = '''
_base_ = ['./tiny.py']
custom_imports = dict(imports=['mmseg_rga', 'kill_points'], allow_failed_imports=False)
default_hooks = dict(checkpoint=dict(
    type='AtomicCheckpointHook', backend_args=dict(backend='pausing_atomic_local')))
custom_hooks = [dict(type='KillPointHook')]
'''

# (name, KILL_POINT, the iteration it resumes from afterwards)
CHAIN = [
    ('mid-iteration 3', 'forward:3', 2),
    ('during the save of iter_4.pth', 'save:iter_4.pth', 2),
    ('during the write of last_checkpoint (iter 4)', 'save:last_checkpoint', 4),
    ('right after the save of iter_6.pth', 'after_save:6', 6),
]


def weights(path):
    return load_checkpoint_file(str(path), map_location='cpu')['state_dict']


def max_difference(a, b) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a
               if a[k].is_floating_point())


def assert_all_checkpoints_load(work_dir: Path):
    for path in work_dir.glob('*.pth'):
        load_checkpoint_file(str(path), map_location='cpu')  # raises if truncated or unsafe
    last = (work_dir / 'last_checkpoint')
    if last.exists():
        assert Path(last.read_text().strip()).is_file(), last.read_text()


def run_until_killed(cmd, cwd, env, marker: Path, timeout=300) -> str:
    """Start a tool, SIGKILL it once ``marker`` appears; return its output."""
    full_env = dict(tool_env(), **env)
    argv = [sys.executable, *map(str, cmd)]
    if forkable(argv, full_env, also=('KILL_POINT', 'KILL_MARKER')):
        returncode, stdout, stderr = run_forked(argv, cwd, full_env, timeout,
                                                kill_when=marker.exists)
        out = stdout + stderr
    else:
        with open(cwd / f'{marker.name}.log', 'w+') as log:
            proc = subprocess.Popen(argv, cwd=cwd, env=full_env, stdout=log,
                                    stderr=subprocess.STDOUT)
            deadline = time.time() + timeout
            while not marker.exists() and proc.poll() is None and time.time() < deadline:
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            returncode = proc.wait()
            log.seek(0)
            out = log.read()
    assert marker.exists(), f'the kill point was never reached:\n{out[-4000:]}'
    assert returncode == -signal.SIGKILL
    return out


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    from mmseg_rga.datasets.synthetic import generate_synthetic_cityscapes
    root = tmp_path_factory.mktemp('faults')
    generate_synthetic_cityscapes(str(root / 'data'), num_train=4, num_val=2,
                                  image_size=(64, 128), seed=0)
    (root / 'tiny.py').write_text(TINY_CONFIG)
    (root / 'faulty.py').write_text(FAULT_CONFIG)
    (root / 'kill_points.py').write_text(KILL_POINTS)
    return root


def train_cmd(root: Path, work_dir: Path, *extra):
    options = tiny_options(root / 'data', max_iters=MAX_ITERS, val_interval=1000)
    assert f'default_hooks.checkpoint.interval={INTERVAL}' in options
    options.append('train_cfg.val_begin=1000')  # no validation: it does not change weights
    return [str(REPO / 'tools' / 'train.py'), str(root / 'faulty.py'), '--work-dir',
            str(work_dir), *extra, '--cfg-options', *options]


@pytest.mark.slow
def test_killed_training_resumes_to_identical_weights(setup):
    root, env = setup, dict(PYTHONPATH=str(setup))
    reference = root / 'reference'
    run_tool(train_cmd(root, reference), cwd=root, env=env)
    work_dir, diffs = root / 'killed', {}
    for i, (name, point, resume_from) in enumerate(CHAIN):
        marker = root / f'killed_{i}'
        extra = ['--resume'] if i else []
        out = run_until_killed(train_cmd(root, work_dir, *extra), root,
                               dict(env, KILL_POINT=point, KILL_MARKER=str(marker)), marker)
        if i:
            assert f'resumed epoch: 0, iter: {CHAIN[i - 1][2]}' in out, out[-3000:]
        assert_all_checkpoints_load(work_dir)
    _, out = run_tool(train_cmd(root, work_dir, '--resume'), cwd=root, env=env)
    assert f'resumed epoch: 0, iter: {CHAIN[-1][2]}' in out, out[-3000:]
    assert not list(work_dir.glob('.*.tmp')), 'a temporary file of a killed save was left'
    assert_all_checkpoints_load(work_dir)
    # the first checkpoint written after resuming past each kill point
    for name, point, resume_from in CHAIN:
        step = resume_from + INTERVAL
        diffs[name] = max_difference(weights(reference / f'iter_{step}.pth'),
                                     weights(work_dir / f'iter_{step}.pth'))
        print(f'killed {name}: resumed from iter_{resume_from}; max |w_ref - w| at iter_{step} '
              f'= {diffs[name]:.3g}')
    final = max_difference(weights(reference / f'iter_{MAX_ITERS}.pth'),
                           weights(work_dir / f'iter_{MAX_ITERS}.pth'))
    print(f'final iter_{MAX_ITERS}: max |w_ref - w| = {final:.3g}')
    assert final == 0.0 and all(d == 0.0 for d in diffs.values()), diffs
    moved = max_difference(weights(reference / 'iter_2.pth'),
                           weights(reference / f'iter_{MAX_ITERS}.pth'))
    assert moved > 1e-4  # training changed the weights: the equality above is not vacuous
