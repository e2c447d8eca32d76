r"""Test (and evaluate) a segmentor: mmseg's ``tools/test.py`` plus the plugin's runtime fixes.

Same flags and Runner as mmseg 1.2.2's script; in addition it works without ``pip install -e .``
(repo root on ``sys.path``, ``mmseg_rga`` imported), loads checkpoints weights-only with an
allowlist of the types mmengine checkpoints hold (``--unsafe-load`` to load a trusted file fully),
runs ``--launcher pytorch`` on CPU hosts (gloo), checks the dataset before the
Runner starts and refuses, in one line, a checkpoint that does not fit the model (e.g. one
trained at another ``rga_cfg.pooled_size``) instead of testing RGA weights left at random.
See ``tools/train.py`` for details.

Examples:
  python tools/test.py configs/rga/pspnet_rga_cityscapes.py \
      work_dirs/pspnet_rga_cityscapes/iter_40000.pth
  python tools/test.py CONFIG CKPT --tta --out work_dirs/preds
"""
import argparse
import os.path as osp
import sys
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

from mmengine.config import Config  # noqa: E402

import mmseg_rga  # noqa: E402,F401  registers the RGA modules
from mmseg_rga.tooling.errors import ToolError, run_main  # noqa: E402
from mmseg_rga.tooling.launch import add_plugin_arguments, load_config, run  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='MMSeg test (and eval) a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help=('if specified, the evaluation metric results will be dumped'
              'into the directory as json'))
    parser.add_argument(
        '--out',
        type=str,
        help='The directory to save output prediction for offline evaluation')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved. '
        'If specified, it will be automatically saved '
        'to the work_dir/timestamp/show_dir')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--tta', action='store_true', help='Test time augmentation')
    add_plugin_arguments(parser, 'test')
    return parser.parse_args(argv)


def trigger_visualization_hook(cfg, args):
    default_hooks = cfg.default_hooks
    if 'visualization' in default_hooks:
        visualization_hook = default_hooks['visualization']
        # Turn on visualization
        visualization_hook['draw'] = True
        if args.show:
            visualization_hook['show'] = True
            visualization_hook['wait_time'] = args.wait_time
        if args.show_dir:
            visualizer = cfg.visualizer
            visualizer['save_dir'] = args.show_dir
    else:
        raise RuntimeError(
            'VisualizationHook must be included in default_hooks.'
            'refer to usage '
            '"visualization=dict(type=\'VisualizationHook\')"')

    return cfg


def build_cfg(args) -> Config:
    """The config the Runner gets: file + ``--cfg-options`` + the CLI flags."""
    cfg = load_config(args)

    if not osp.isfile(args.checkpoint) and '://' not in args.checkpoint:
        raise ToolError(f'checkpoint {args.checkpoint!r} does not exist (expected a .pth file '
                         'written by tools/train.py, e.g. work_dirs/<config>/iter_40000.pth)')
    cfg.load_from = args.checkpoint

    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)

    if args.tta:
        missing = [k for k in ('tta_model', 'tta_pipeline') if not cfg.get(k)]
        if missing:
            raise ToolError(
                f'--tta needs {" and ".join(missing)} in the config {args.config} (mmseg\'s '
                'dataset base configs, e.g. mmseg::_base_/datasets/cityscapes.py, define them)')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model

    # add output_dir in metric
    if args.out is not None:
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True
    return cfg


def main(argv=None):
    args = parse_args(argv)
    run(build_cfg(args), 'test', args)


if __name__ == '__main__':
    run_main(main)
