"""What tools/train.py and tools/test.py share beyond mmseg's own scripts.

* :func:`add_plugin_arguments`: the flags both tools take (``--cfg-options``, ``--launcher``,
  ``--synthetic-data``, ``--synthetic-size``, ``--check-labels``, ``--no-data-check``,
  ``--local-rank``, ``--debug``);
* :func:`load_config`: the config file + ``--synthetic-data`` + ``--cfg-options`` + work_dir;
* :func:`run`: data checks, CPU distributed setup, the Runner's train() or test() (atomic
  checkpoint hook, safe checkpoint loading, checkpoints that must fit the model:
  :mod:`.checkpoint_fit`). Errors are reported by
  :func:`~mmseg_rga.tooling.errors.run_main`; a bug's traceback goes to the work dir.
"""
import argparse
import os
import os.path as osp
from typing import List, Optional

from mmseg_rga.checks import check_positive_int

from .checkpoint import add_unsafe_load_argument, checkpoint_loading, use_atomic_checkpoint_hook
from .checkpoint_fit import CheckpointFitHook
from .data_check import check_data
from .dist import setup_cpu_distributed, teardown_cpu_distributed
from .errors import ToolError, add_debug_argument, missing_config_message, set_traceback_dir
from .gpu_host import cpu_torch_on_gpu_host


def positive_int(text: str) -> int:
    """argparse ``type`` for flags that take a positive int (the message names the value)."""
    try:
        return check_positive_int(int(text), 'the value')
    except ValueError as err:
        raise argparse.ArgumentTypeError(f'expected a positive int; got {text!r}') from err


def add_plugin_arguments(parser: argparse.ArgumentParser, mode: str) -> None:
    """The flags both tools share: mmseg's ``--cfg-options`` and ``--launcher`` and the plugin's
    own; ``mode`` is 'train' or 'test' (for the help)."""
    from mmengine.config import DictAction

    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument(
        '--synthetic-data',
        metavar='DIR',
        help='smoke-test this config without its dataset: write a small synthetic '
        'dataset to DIR (unless there) and point the config at it (pretrained=None): '
        'ADE20K layout, images of varied sizes, for an ADE20KDataset config; else Cityscapes '
        'layout (19 classes); --cfg-options still win')
    parser.add_argument(
        '--synthetic-size',
        type=positive_int,
        nargs=2,
        default=(256, 512),
        metavar=('H', 'W'),
        help='height and width of the --synthetic-data images (default 256 512; the crops and '
        'resize scales of the config shrink to fit)')
    parser.add_argument(
        '--check-labels',
        type=int,
        default=8,
        metavar='N',
        help=f'label maps per dataset whose values are checked against [0, num_classes) + '
        f'ignore index before {mode}ing (0: skip, -1: all)')
    parser.add_argument(
        '--no-data-check',
        action='store_true',
        help='skip the dataset directory and label checks')
    add_unsafe_load_argument(parser)
    add_debug_argument(parser)
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or --local_rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def read_config(path: str, cfg_options: Optional[dict] = None):
    """``Config.fromfile(path)`` (+ ``cfg_options``); ToolError for a missing or broken file."""
    from mmengine.config import Config

    if not osp.isfile(path):
        raise ToolError(missing_config_message(path))
    try:
        cfg = Config.fromfile(path)
    except (FileNotFoundError, SyntaxError, KeyError) as err:  # a missing _base_, a typo
        raise ToolError(f'cannot load config {path}: {type(err).__name__}: {err}') from err
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def load_config(args):
    """Config file + ``--synthetic-data`` + ``--cfg-options``, launcher and work_dir set."""
    from .synthetic_data import apply_synthetic_data_option

    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    cfg = read_config(args.config)
    cfg.launcher = args.launcher
    if args.synthetic_data:
        apply_synthetic_data_option(cfg, args.synthetic_data,
                                    image_size=tuple(args.synthetic_size))
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    # work_dir: CLI > config > ./work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    set_traceback_dir(cfg.work_dir)
    return cfg


def run(cfg, mode: str, args) -> None:
    """Check the data, then ``Runner.from_cfg(cfg).train()`` or ``.test()``.

    Dataset and label problems raise before the Runner is built; on a CPU host a distributed
    launch runs with gloo (see :mod:`.dist`). Training, or any distributed run, with a torch
    that has no CUDA on a host that has NVIDIA GPUs stops first (:mod:`.gpu_host`).
    """
    from mmengine.runner import Runner
    from mmseg.registry import RUNNERS

    if mode == 'train' or cfg.get('launcher', 'none') != 'none':
        problem = cpu_torch_on_gpu_host()
        if problem:
            raise ToolError(problem)
    if not args.no_data_check:
        check_data(cfg, dataloaders_for(mode, cfg), args.check_labels)
    cpu_dist = setup_cpu_distributed(cfg)
    if mode == 'train':
        use_atomic_checkpoint_hook(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.register_hook(CheckpointFitHook(mode))  # a checkpoint must fit (checkpoint_fit)
    with checkpoint_loading(unsafe=args.unsafe_load):
        getattr(runner, mode)()
    if cpu_dist:
        teardown_cpu_distributed()


def dataloaders_for(mode: str, cfg) -> List[str]:
    """Dataloaders a run touches: ``train`` -> train (+ val if a val loop is set), ``test``."""
    if mode == 'test':
        return ['test_dataloader']
    names = ['train_dataloader']
    if cfg.get('val_cfg') and cfg.get('val_dataloader') and cfg.get('val_evaluator'):
        names.append('val_dataloader')
    return names
