"""A GPU host never trains on the CPU by accident: the launchers and tools/train.py stop in one
line when the chosen Python's torch cannot use the host's NVIDIA GPUs. The GPU is faked by an
``nvidia-smi`` on PATH that lists one (this machine has none)."""
import os
import stat
import sys
from pathlib import Path

import pytest
import torch

from mmseg_rga.tooling import gpu_host

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / 'configs' / 'demo' / 'pspnet-rga_r18-d8_synthetic.py'
GPU_LINE = 'GPU 0: NVIDIA H200 (UUID: GPU-00000000-0000-0000-0000-000000000000)'

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason='a real CUDA torch')


@pytest.fixture
def fake_gpu_host(tmp_path, monkeypatch):
    """PATH with an ``nvidia-smi`` that lists one GPU; CUDA_VISIBLE_DEVICES unset."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    smi = bin_dir / 'nvidia-smi'
    smi.write_text(f'#!/bin/sh\necho "{GPU_LINE}"\n')
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv('PATH', f'{bin_dir}{os.pathsep}{os.environ["PATH"]}')
    monkeypatch.delenv('CUDA_VISIBLE_DEVICES', raising=False)
    return bin_dir


def test_cpu_torch_on_gpu_host_is_named_in_one_line(fake_gpu_host):
    assert gpu_host.nvidia_gpus() == [GPU_LINE]
    problem = gpu_host.cpu_torch_on_gpu_host()
    assert problem.startswith('this host has 1 NVIDIA GPU(s) (GPU 0: NVIDIA H200')
    assert sys.executable in problem and 'PYTHON=' in problem and '\n' not in problem


@pytest.mark.parametrize('hidden', ['', '-1'])
def test_hidden_gpus_allow_the_cpu(fake_gpu_host, monkeypatch, hidden):
    monkeypatch.setenv('CUDA_VISIBLE_DEVICES', hidden)
    assert gpu_host.cpu_torch_on_gpu_host() is None


def test_host_without_gpu_is_left_alone(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', str(tmp_path))  # no nvidia-smi
    monkeypatch.setattr(gpu_host.glob, 'glob', lambda pattern: [])
    assert gpu_host.nvidia_gpus() == []
    assert gpu_host.cpu_torch_on_gpu_host() is None


def _run(cmd, tmp_path, extra_env=None):
    import subprocess
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'LOCAL_RANK')}
    env.update(PYTHON=sys.executable, OMP_NUM_THREADS='1', **(extra_env or {}))
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize('tool', ['dist_train.sh', 'train.py'])
def test_launcher_and_train_stop_instead_of_training(fake_gpu_host, tmp_path, tool):
    work_dir = tmp_path / 'wd'
    if tool == 'dist_train.sh':
        cmd = ['bash', str(REPO / 'tools' / tool), str(CONFIG), '2', '--work-dir', str(work_dir)]
    else:
        cmd = [sys.executable, str(REPO / 'tools' / tool), str(CONFIG), '--work-dir',
               str(work_dir), '--launcher', 'pytorch']
    proc = _run(cmd, tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert out.strip().splitlines()[-1].startswith(
        'error: this host has 1 NVIDIA GPU(s) (GPU 0: NVIDIA H200'), out[-3000:]
    assert f'the Python picked, {sys.executable}, has torch' in out
    assert 'Traceback' not in out and 'torch.distributed' not in out
    assert not (work_dir / 'pspnet-rga_r18-d8_synthetic.py').exists()  # no Runner was built
