"""Peak GPU memory of one training iteration (or one test image) of a config, without a GPU.

    python tools/analysis_tools/estimate_memory.py CONFIG [--amp] [--batch-size N]
        [--shape H W] [--mode train|whole|slide] [--gpus N] [--pooled-size S]
    python tools/analysis_tools/estimate_memory.py --validate
    python tools/analysis_tools/estimate_memory.py --table CONFIG [CONFIG ...] --pooled-size 33 97

The config's model, data preprocessor, loss and optimizer run on fake tensors (shapes and
autograd, no data, no compute: a ResNet-101 step takes seconds on a CPU); every tensor storage
is recorded and replayed through a model of PyTorch's CUDA caching allocator, twice (the second
iteration is the steady state). The peak is what ``torch.cuda.max_memory_allocated`` -- mmengine's
logged ``memory`` and mmseg's published ``Memory (GB)`` -- would report, split into parameters
(and buffers), gradients (with DDP's bucket copy when --gpus > 1), optimizer state (SGD momentum),
activations (made in the forward pass), temporaries (made in backward and the optimizer step)
and the allocator's rounding. ``--amp`` models mmengine's AmpOptimWrapper (CUDA autocast fp16,
fp32 weights). SyncBN is traced as BN (same saved tensors).

Not seen (and not added): cuDNN / cuBLAS workspaces, which max_memory_allocated does count (their
size depends on the algorithm cuDNN picks at run time); the CUDA context, libraries and NCCL
buffers, which it does not count but the card must hold. ``--validate`` compares the estimate
with mmseg's published figures (read from the installed metafiles); ``--table`` prints the
docs/benchmarks.md table. Sizes are GiB (2^30 bytes); mmseg's "GB" is read as GiB (its logs
are MiB = 2^20 bytes; see mmseg_rga/analysis/published_memory.py).
"""
import argparse
import re
import sys
import warnings
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

from mmseg_rga.tooling.errors import ToolError, add_debug_argument, run_main  # noqa: E402

GIB = 1 << 30
CARDS_GB = (16, 24, 32, 40, 80)
CARD_OVERHEAD_GIB = 1.0  # CUDA context + cuDNN/cuBLAS workspaces, not in the estimate
VALIDATION_RESIDUAL_GIB = 1.6  # the largest under-estimate of --validate (DANet: 1.54 GiB)
INFERENCE_SHAPE = (1024, 2048)
NOT_SEEN = ('not seen: cuDNN/cuBLAS workspaces (counted by max_memory_allocated on a GPU), '
            'the CUDA context, libraries and NCCL buffers (not counted by it, but on the card)')


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', nargs='*', help='config file(s); several only with --table')
    parser.add_argument('--mode', choices=('train', 'whole', 'slide'), default='train')
    parser.add_argument('--amp', action='store_true', help='AMP (fp16 autocast) as --amp trains')
    parser.add_argument('--batch-size', type=int, help='images per GPU (default: the '
                        "config's train batch size; 1 for whole/slide)")
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'), help='image size '
                        "(default: the config's crop_size; 1024 2048 for whole/slide)")
    parser.add_argument('--gpus', type=int, help='GPUs (DDP buckets when > 1; default: the N of '
                        "'Nxb' in the config name, else 1)")
    parser.add_argument('--pooled-size', type=int, nargs='+', metavar='S',
                        help='set every rga_cfg.pooled_size to S x S (--table: one row per S)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument('--validate', action='store_true',
                        help="estimate / mmseg's published memory for its R-101 configs")
    parser.add_argument('--table', action='store_true', help='the docs/benchmarks.md table')
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    if not args.validate and not args.config:
        raise ToolError('give a CONFIG (or --validate)')
    if len(args.config) > 1 and not args.table:
        raise ToolError(f'several configs need --table; got {len(args.config)}')
    for name in ('batch_size', 'gpus'):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ToolError(f'--{name.replace("_", "-")} must be >= 1')
    if (args.shape and min(args.shape) < 1) or (args.pooled_size and min(args.pooled_size) < 1):
        raise ToolError('--shape and --pooled-size need positive ints')
    if args.pooled_size and len(args.pooled_size) > 1 and not args.table:
        raise ToolError('several --pooled-size values need --table')
    return args


def load(path, cfg_options=None, pooled_size=None):
    from mmengine.config import Config

    from mmseg_rga.tooling.errors import missing_config_message
    if not Path(path).is_file():
        raise ToolError(missing_config_message(path))
    try:
        cfg = Config.fromfile(path)
    except (FileNotFoundError, SyntaxError, KeyError) as err:
        raise ToolError(f'cannot load config {path}: {type(err).__name__}: {err}') from err
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if pooled_size and not set_pooled_size(cfg.model, pooled_size):
        raise ToolError(f'--pooled-size: {path} has no rga_cfg in its model')
    return cfg


def set_pooled_size(node, size=None) -> int:
    """Set every ``rga_cfg.pooled_size`` under ``node`` to (size, size) (only count them if
    ``size`` is None); how many there are."""
    count = 0
    if isinstance(node, dict):
        if isinstance(node.get('rga_cfg'), dict):
            if size is not None:
                node['rga_cfg']['pooled_size'] = (size, size)
            count += 1
        count += sum(set_pooled_size(v, size) for k, v in node.items() if k != 'rga_cfg')
    elif isinstance(node, (list, tuple)):
        count += sum(set_pooled_size(v, size) for v in node)
    return count


def defaults(cfg, path, args, mode):
    """(batch size, shape, gpus) for ``mode``, from the arguments or the config."""
    train = mode == 'train'
    batch = args.batch_size or (cfg.train_dataloader.batch_size if train else 1)
    shape = args.shape or (cfg.get('crop_size') if train else INFERENCE_SHAPE)
    if shape is None:
        raise ToolError(f'{path} has no crop_size: give --shape H W')
    found = re.search(r'(\d+)xb\d+', Path(path).name)
    gpus = args.gpus or (int(found.group(1)) if found and train else 1)
    return batch, tuple(shape), gpus


def estimate(cfg, path, args, mode, amp):
    from mmseg_rga.analysis.segmentor_memory import estimate_config
    batch, shape, gpus = defaults(cfg, path, args, mode)
    return estimate_config(cfg, mode, amp, batch, shape, gpus), (batch, shape, gpus)


def gib(nbytes) -> str:
    return f'{nbytes / GIB:.2f}'


def size(nbytes, unit: str) -> str:
    return f'{nbytes / (GIB if unit == "GiB" else 1 << 20):.2f} {unit}'


def smallest_card(reserved) -> str:
    """The smallest of CARDS_GB (taken as GiB) that holds ``reserved`` + CARD_OVERHEAD_GIB, or
    '> 80'; '(tight)' if it would not with VALIDATION_RESIDUAL_GIB more."""
    need = reserved / GIB + CARD_OVERHEAD_GIB
    card = next((c for c in CARDS_GB if need <= c), None)
    if card is None:
        return f'> {CARDS_GB[-1]}'
    return f'{card} (tight)' if need + VALIDATION_RESIDUAL_GIB > card else f'{card}'


def short(path) -> str:
    """``path`` from configs/rga/ on (the row names of the Table-6 tables)."""
    parts = Path(path).parts
    return '/'.join(parts[parts.index('rga') + 1:]) if 'rga' in parts else Path(path).name


def report(path, args):
    cfg = load(path, args.cfg_options, (args.pooled_size or [None])[0])
    est, (batch, shape, gpus) = estimate(cfg, path, args, args.mode, args.amp)
    print(f'{path}: {args.mode}, {batch} x {shape[0]}x{shape[1]} per GPU, '
          f'{"AMP fp16" if args.amp else "fp32"}, {gpus} GPU(s), {est.params / 1e6:.2f}M params')
    unit = 'GiB' if est.peak >= GIB else 'MiB'
    print(f'peak (max_memory_allocated): {size(est.peak, unit)}')
    for name, nbytes in est.breakdown.items():
        print(f'  {name:<20} {size(nbytes, unit):>12}')
    print(f'tensors alone (no allocator): {size(est.tensors, unit)}; allocator segments '
          f'(max_memory_reserved): {size(est.reserved, unit)}; smallest card (GB) with '
          f'{CARD_OVERHEAD_GIB:.0f} GiB for context/workspaces: {smallest_card(est.reserved)}')
    print(NOT_SEEN)
    print(f'traced in {est.seconds:.1f} s')


def validate(args):
    from mmseg_rga.analysis.published_memory import GB_IS_GIB, validation_set
    print(f"| mmseg config (published by mmseg, {'GB read as GiB' if GB_IS_GIB else 'GB'}) "
          '| published (GB) | estimate (GiB) | estimate / published | residual (GiB) | s |')
    print('| --- | ---: | ---: | ---: | ---: | ---: |')
    for pub in validation_set():
        amp = '-amp-' in pub.name
        cfg = load(pub.config, args.cfg_options)
        est, _ = estimate(cfg, pub.config, args, 'train', amp)
        print(f'| {pub.name} | {pub.memory_gb:.2f} | {gib(est.peak)} | '
              f'{est.peak / pub.memory_bytes:.3f} | {gib(pub.memory_bytes - est.peak)} | '
              f'{est.seconds:.1f} |', flush=True)


def table(args):
    print('| config | nodes | params | train fp32 | train AMP | whole fp32 | whole AMP '
          '| card fp32 | card AMP |')
    print('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
    for path in args.config:
        has_rga = set_pooled_size(load(path, args.cfg_options).model)
        for size in (args.pooled_size or [None]) if has_rga else [None]:
            cfg = load(path, args.cfg_options, size)
            runs = {(mode, amp): estimate(cfg, path, args, mode, amp)[0]
                    for mode in ('train', 'whole') for amp in (False, True)}
            train, train_amp = runs['train', False], runs['train', True]
            print(f'| `{short(path)}` | {f"{size}x{size}" if size else "-"} | '
                  f'{train.params / 1e6:.2f}M | {gib(train.peak)} | {gib(train_amp.peak)} | '
                  f'{gib(runs["whole", False].peak)} | {gib(runs["whole", True].peak)} | '
                  f'{smallest_card(train.reserved)} | {smallest_card(train_amp.reserved)} |',
                  flush=True)


def main(argv=None):
    args = parse_args(argv)
    import mmseg_rga  # noqa: F401  registers the RGA modules
    warnings.filterwarnings('ignore', category=UserWarning, module=r'mmseg\.')  # build, resize
    if args.validate:
        validate(args)
    elif args.table:
        table(args)
    else:
        report(args.config[0], args)


if __name__ == '__main__':
    run_main(main)
