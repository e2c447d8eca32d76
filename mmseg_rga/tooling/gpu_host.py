"""Refuse to train on the CPU on a host that has NVIDIA GPUs (a CPU-only torch picked by accident).

The launchers prefer the checkout's ``.venv``, the CPU torch of ``make env``; on a GPU host that
Python would train with CPU DDP over gloo. :func:`cpu_torch_on_gpu_host` says so in one line,
naming the Python that was picked and how to pick another. Hiding the GPUs on purpose
(``CUDA_VISIBLE_DEVICES=`` or ``-1``) allows CPU training. Imports only torch and the standard
library, so the launchers run this file directly before starting their processes::

    python mmseg_rga/tooling/gpu_host.py   # exit 1 with 'error: ...' on such a host
"""
import glob
import os
import shutil
import subprocess
import sys
from typing import List, Optional


def nvidia_gpus() -> List[str]:
    """The host's NVIDIA GPUs: the lines of ``nvidia-smi -L``, else the ``/dev/nvidiaN`` files."""
    smi = shutil.which('nvidia-smi')
    if smi:
        try:
            listed = subprocess.run([smi, '-L'], capture_output=True, text=True, timeout=30)
            gpus = [line.strip() for line in listed.stdout.splitlines()
                    if line.startswith('GPU ')]
            if gpus:
                return gpus
        except (OSError, subprocess.SubprocessError):
            pass
    return sorted(glob.glob('/dev/nvidia[0-9]*'))


def cpu_torch_on_gpu_host() -> Optional[str]:
    """A one-line message when this Python's torch cannot use the host's NVIDIA GPUs, else None."""
    import torch

    if torch.cuda.is_available() or os.environ.get('CUDA_VISIBLE_DEVICES') in ('', '-1'):
        return None
    gpus = nvidia_gpus()
    if not gpus:
        return None
    cuda = getattr(torch.version, 'cuda', None)
    why = (f'torch {torch.__version__} built for CUDA {cuda}, which sees no GPU (check the '
           'driver and CUDA_VISIBLE_DEVICES)' if cuda else
           f'torch {torch.__version__} without CUDA')
    return (f'this host has {len(gpus)} NVIDIA GPU(s) ({gpus[0]}), but the Python picked, '
            f'{sys.executable}, has {why}; not training on the CPU. Pick a Python with a CUDA '
            'torch: PYTHON=/path/to/python bash tools/dist_train.sh ... (or run tools/train.py '
            'with it); set CUDA_VISIBLE_DEVICES= to use the CPU on purpose')


if __name__ == '__main__':
    problem = cpu_torch_on_gpu_host()
    if problem:
        print(f'error: {problem}', file=sys.stderr)
        sys.exit(1)
