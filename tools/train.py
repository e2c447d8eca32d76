"""Train a segmentor: mmseg's ``tools/train.py`` plus what this plugin needs to run anywhere.

Differences from mmseg 1.2.2's script (same flags, same Runner):
  * works without ``pip install -e .``: this checkout goes first on ``sys.path`` and
    ``mmseg_rga`` is imported, so RGA modules are registered even without ``custom_imports``;
  * checkpoints are saved atomically and ``--resume`` continues from the newest one that loads
    (``AtomicCheckpointHook``, ``mmseg_rga/engine/``); checkpoints load weights-only with an
    allowlist unless ``--unsafe-load`` (``mmseg_rga/engine/safe_load.py``);
  * config mistakes (missing file, wrong ``type``, unknown key) end in one ``error:`` line;
    a bug names its file and line and writes its traceback to the work dir (``--debug`` prints it);
  * ``--launcher pytorch|slurm|mpi`` works on hosts without CUDA (gloo, CPU DDP, SyncBN -> BN;
    see ``mmseg_rga/tooling/dist.py``); GPU hosts are unchanged;
  * a missing dataset or out-of-range label values fail before the Runner starts, with the
    expected layout and the command that prepares it (``mmseg_rga/tooling/data_check.py``);
  * ``--resume`` refuses a checkpoint that does not fit the model (a weight missing or of another
    shape, e.g. after changing ``rga_cfg.pooled_size``) in one line; ``load_from`` loads what
    fits and names each RGA block that keeps its initialization
    (``mmseg_rga/tooling/checkpoint_fit.py``).

Examples:
  python tools/train.py configs/rga/pspnet_rga_cityscapes.py  # -> work_dirs/pspnet_rga_cityscapes/
  bash tools/dist_train.sh configs/rga/pspnet_rga_cityscapes.py 4 --amp
"""
import argparse
import logging
import sys
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

from mmengine.config import Config  # noqa: E402
from mmengine.device import get_device  # noqa: E402
from mmengine.logging import print_log  # noqa: E402

import mmseg_rga  # noqa: E402,F401  registers the RGA modules
from mmseg_rga.tooling.errors import ToolError, run_main  # noqa: E402
from mmseg_rga.tooling.launch import add_plugin_arguments, load_config, run  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        action='store_true',
        default=False,
        help='resume from the newest checkpoint in the work_dir that loads (a truncated or '
        'missing one is skipped with a warning)')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training')
    add_plugin_arguments(parser, 'train')
    return parser.parse_args(argv)


def build_cfg(args) -> Config:
    """The config the Runner gets: file + ``--cfg-options`` + the CLI flags."""
    cfg = load_config(args)

    # enable automatic-mixed-precision training
    if args.amp is True:
        if get_device() == 'cpu':  # fail now rather than deep inside the Runner's build
            raise ToolError('--amp needs a GPU/NPU/MLU/MUSA device (mmengine\'s AmpOptimWrapper); '
                             'none is available on this host: run without --amp.')
        optim_wrapper = cfg.optim_wrapper.type
        if optim_wrapper == 'AmpOptimWrapper':
            print_log(
                'AMP training is already enabled in your config.',
                logger='current',
                level=logging.WARNING)
        else:
            assert optim_wrapper == 'OptimWrapper', (
                '`--amp` is only supported when the optimizer wrapper type is '
                f'`OptimWrapper` but got {optim_wrapper}.')
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'

    # resume training (a config's own resume=True is kept)
    cfg.resume = args.resume or bool(cfg.get('resume', False))
    return cfg


def main(argv=None):
    args = parse_args(argv)
    run(build_cfg(args), 'train', args)


if __name__ == '__main__':
    run_main(main)
