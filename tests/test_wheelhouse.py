"""The offline install, end to end: `make wheelhouse` (tools/build_wheelhouse.sh) for this stack,
then a fresh venv that holds only this stack's torch, numpy and opencv-python (this interpreter's
own, linked in through a .pth file rather than installed again), as a host without internet
would:

1. tools/analysis_tools/gpu_run.sh installs the wheelhouse with --no-deps into a folder of its
   own and runs gpu_check.py (--budget, --out), which imports the whole stack from there and,
   without CUDA, says so and exits 0;
2. `pip install --no-index --find-links WHEELHOUSE mmseg_rga` installs the stack into the venv
   with nothing but the wheelhouse to draw from (pip's configuration ignored), and
   tools/train.py -> tools/test.py run 2 iterations on generated data with it.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mmseg_rga.datasets.synthetic import generate_synthetic_cityscapes

sys.path.insert(0, str(Path(__file__).parent))
from test_tools import TINY_CONFIG, eval_cmd, miou, train_cmd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PINS = REPO / 'requirements' / 'pinned.txt'
TORCH = torch.__version__.split('+')[0]
PYTAG = 'cp%d%d' % sys.version_info[:2]
HOST_HAS = ('torch', 'numpy', 'opencv')  # what the wheelhouse leaves to the host


def _run(argv, cwd, env=None, timeout=900):
    start = time.time()
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    print(f'$ {" ".join(map(str, argv[:4]))} ... ({time.time() - start:.0f} s)')
    assert proc.returncode == 0, f'{argv}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}'
    return proc.stdout, proc.stderr


def _offline_env(**extra):
    """No pip configuration (so no index and no find-links), no PYTHONPATH, one thread."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith('PIP_') and k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK='1',
               OMP_NUM_THREADS='1', **extra)
    return env


@pytest.fixture(scope='module')
def wheelhouse(tmp_path_factory):
    out = tmp_path_factory.mktemp('wheelhouse') / f'{PYTAG}-torch-{TORCH}'
    # A user's top-level make: under `make test` the inherited MAKELEVEL would add
    # "make[1]: Leaving directory" after the summary line.
    env = {k: v for k, v in os.environ.items() if k not in ('MAKELEVEL', 'MAKEFLAGS', 'MFLAGS')}
    stdout, _ = _run(['make', 'wheelhouse', f'PYTHON={sys.executable}', f'TORCH={TORCH}',
                      f'WHEELHOUSE={out}'], cwd=REPO, env=env)
    print(stdout.splitlines()[-1])
    return out, stdout


def _link_host_packages(target: Path) -> None:
    """Links in ``target`` to this interpreter's torch, numpy and opencv-python and to what they
    require, files and metadata: what a CUDA host brings."""
    from importlib.metadata import distribution

    from packaging.requirements import Requirement
    todo, seen = ['torch', 'numpy', 'opencv-python'], set()
    while todo:
        dist = distribution(todo.pop())
        if dist.metadata['Name'].lower() in seen:
            continue
        seen.add(dist.metadata['Name'].lower())
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({'extra': ''}):
                todo.append(req.name)
        for top in {f.parts[0] for f in dist.files or [] if f.parts[0] not in ('..', 'bin')}:
            if not (target / top).exists():
                (target / top).symlink_to(dist.locate_file(top))


@pytest.fixture(scope='module')
def venv(tmp_path_factory):
    """A new venv that sees this stack's torch, numpy and opencv-python and nothing else."""
    root = tmp_path_factory.mktemp('offline_host')
    base = getattr(sys, '_base_executable', sys.executable)
    _run([base, '-m', 'venv', root / 'venv'], cwd=root)
    python = root / 'venv' / 'bin' / 'python'
    (root / 'host').mkdir()
    _link_host_packages(root / 'host')
    site = _run([python, '-c', 'import sysconfig; print(sysconfig.get_path("purelib"))'],
                cwd=root)[0].strip()
    (Path(site) / 'host.pth').write_text(f'{root / "host"}\n')
    return root, python


@pytest.mark.slow
def test_wheelhouse_holds_the_stack_but_the_hosts_packages(wheelhouse):
    out, stdout = wheelhouse
    wheels = list(out.glob('*.whl'))
    names = {p.name.split('-')[0].lower() for p in wheels}
    assert {'mmcv', 'mmengine', 'mmsegmentation', 'mmseg_rga', 'scipy', 'matplotlib'} <= names
    assert not [n for n in names if n.startswith(HOST_HAS) or n.startswith('nvidia')], names
    assert (out / 'wheelhouse.txt').read_text().split() == [PYTAG, 'torch', TORCH]
    total = sum(p.stat().st_size for p in wheels) / 2 ** 20
    assert stdout.splitlines()[-1] == f'{out}: {len(wheels)} wheels, {total:.1f} MiB'


@pytest.mark.slow
def test_gpu_run_installs_offline_and_runs_gpu_check(wheelhouse, venv):
    out, _ = wheelhouse
    root, python = venv
    site = root / 'site'
    argv = ['bash', REPO / 'tools' / 'analysis_tools' / 'gpu_run.sh', out, '--budget', '360',
            '--out', root / 'gpu_check.md']
    stdout, _ = _run(argv, cwd=root, env=_offline_env(PYTHON=str(python), SITE=str(site)))
    assert stdout.strip() == ('gpu_check: no CUDA device on this host (torch.cuda.is_available()'
                              ' is False); nothing was checked.')
    assert (site / 'mmcv' / 'ops').is_dir() and (site / 'mmseg').is_dir()
    assert not list((root / 'venv').rglob('mmcv*')), 'gpu_run.sh installed into the venv'
    # the wrong Python for the wheelhouse: one line, exit 1
    (out.parent / 'other').mkdir()
    (out.parent / 'other' / 'wheelhouse.txt').write_text('cp399 torch 9.9.9\n')
    proc = subprocess.run(['bash', argv[1], out.parent / 'other'], cwd=root, capture_output=True,
                          text=True, env=_offline_env(PYTHON=str(python)))
    assert proc.returncode == 1 and proc.stderr.startswith(
        f'error: {out.parent / "other"} was built for cp399 torch 9.9.9, but {python} is '
        f'{PYTAG} torch {TORCH}'), proc.stderr


@pytest.mark.slow
def test_offline_install_trains_and_tests(wheelhouse, venv):
    out, _ = wheelhouse
    root, python = venv
    env = _offline_env()
    _run([python, '-m', 'pip', 'install', '-q', '--no-compile', '--no-index', '--find-links', out,
          'mmseg_rga'], cwd=root, env=env)
    where = _run([python, '-c', 'import importlib.util as u, sysconfig; '
                  'print(sysconfig.get_path("purelib")); '
                  'print(*(u.find_spec(m).origin for m in ("mmseg_rga", "mmcv", "torch")))'],
                 cwd=root, env=env)[0].split()
    assert where[1].startswith(where[0]) and where[2].startswith(where[0]), where  # the venv's
    assert where[3].startswith(str(root / 'host')), where  # the host's torch
    data = root / 'data'
    generate_synthetic_cityscapes(str(data), num_train=2, num_val=2, image_size=(64, 128), seed=0)
    config = root / 'tiny.py'
    config.write_text(TINY_CONFIG)
    train = train_cmd(config, root / 'train', data, max_iters=2, val_interval=100)
    _run([python, *train], cwd=root, env=env)
    stdout, stderr = _run([python, *eval_cmd(config, root / 'train' / 'iter_2.pth',
                                             root / 'test', data)], cwd=root, env=env)
    assert 0.0 <= miou(stdout + stderr) <= 100.0
