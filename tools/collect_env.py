"""Check an installation: the stack, the registered RGA modules, and how checkpoints load.

Prints mmseg's environment report (``mmseg.utils.collect_env``: Python, CUDA, GPUs, torch,
OpenCV, MMEngine, MMSegmentation; not torch's build flags) plus numpy, mmcv and its compiled
ops, mmseg_rga, the RGA modules in mmseg's ``MODELS`` registry, and which loader reads a
checkpoint on this torch (this project's tools and mmseg's own). Exits 1 with one ``error:``
line when the stack cannot train: numpy that this torch cannot use (a torch built against
numpy 1 beside numpy 2), mmcv without its compiled ops, or no RGA module registered. ::

    python tools/collect_env.py
"""
import argparse
import sys
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

from mmseg_rga.tooling.errors import ToolError, add_debug_argument, run_main  # noqa: E402


def check_numpy() -> str:
    """numpy's version, after a round trip through torch; ToolError when torch cannot use it."""
    import warnings

    import numpy as np
    import torch
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # torch's "Failed to initialize NumPy" warning
        try:
            ok = torch.from_numpy(np.arange(3)).sum().item() == 3
        except RuntimeError:
            ok = False
    if not ok:
        raise ToolError(
            f'numpy {np.__version__} does not work with torch {torch.__version__} (built against '
            f'numpy 1): pip install -c requirements/gpu.txt "numpy<2" "opencv-python<4.12"')
    return np.__version__


def check_mmcv() -> str:
    import mmcv
    try:
        from mmcv.ops import RoIAlign  # noqa: F401  (mmseg imports mmcv.ops)
    except ImportError as e:
        raise ToolError(f'mmcv {mmcv.__version__} has no compiled ops ({e}); mmseg needs them: '
                        'install a full mmcv build for this torch (not mmcv-lite)') from None
    return f'{mmcv.__version__} (compiled ops)'


def rga_modules() -> list:
    from mmseg.registry import MODELS

    import mmseg_rga  # noqa: F401  (registers the modules)
    names = sorted(name for name in MODELS.module_dict if name.startswith('RGA'))
    if not names:
        raise ToolError('no RGA module in mmseg\'s MODELS registry after `import mmseg_rga`')
    return names


def loading() -> dict:
    """Which unpickler reads a checkpoint on this torch, for our tools and for mmseg's."""
    import torch

    from mmseg_rga.compat import HAS_SAFE_GLOBALS
    release = tuple(int(p) for p in torch.__version__.split('+')[0].split('.')[:2])
    ours = ("torch's weights-only unpickler with the allowlist (add_safe_globals)"
            if HAS_SAFE_GLOBALS else "this project's allowlist unpickler (no add_safe_globals)")
    theirs = ('weights-only with the allowlist, registered by `import mmseg_rga`'
              if release >= (2, 6) else
              'full unpickling (torch < 2.6): use this project\'s tools/test.py for files you '
              'did not write')
    return {'this project\'s tools': f'format checked first, then {ours}',
            "mmseg's tools/test.py, init_model": theirs}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_debug_argument(parser)
    parser.parse_args(argv)
    rows = {'numpy': check_numpy(), 'mmcv': check_mmcv()}
    from mmseg.utils import collect_env

    from mmseg_rga import __version__
    report = {**collect_env(), **rows, 'mmseg_rga': __version__}
    report.pop('PyTorch compiling details', None)  # torch's build flags: 20 lines
    names = rga_modules()
    report['RGA modules'] = f'{len(names)}: ' + ', '.join(names)
    report.update({f'checkpoints, {who}': how for who, how in loading().items()})
    for key, value in report.items():
        print(f'{key}: {value}')


if __name__ == '__main__':
    run_main(main)
