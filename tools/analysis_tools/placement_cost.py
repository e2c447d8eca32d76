"""Parameters and forward+backward time of the two RGA-SC placements of Table 6, on fake C5 maps.

    python tools/analysis_tools/placement_cost.py [--rows ocnet-baseline] [--nodes 33 97]
                                                  [--size 97] [--batch 1] [--reps 1]

For each row (the paper-protocol configs in ``configs/rga/paper_protocol/``) and node count it
builds, without the backbone (SyncBN -> BN, CPU):

* ``plain``: the row's decode head on C5 (2048 channels);
* ``head``: RGA-SC on the head's last feature map (512 channels), concatenated before the
  classifier (``RGA<Head>``; the ``<row>-rga`` config);
* ``c5``: RGA-SC on C5 through ``RGANeck``, concatenated with C5, then the head on 4096 channels
  (the ``<row>-rganeck`` config);

and times one training forward+backward (train mode, sum of the logits) on a random
(batch, 2048, size, size) C5 map: ``--warmup`` untimed passes, then the median of ``--reps``.
Ratios are to ``plain`` in the same run. The default ``--size 97`` is the C5 map of a 769 crop,
where 97x97 nodes need no pooling. Parameters count the decode head and the neck (no backbone,
no auxiliary head). PSP/ASPP rows need ``--batch 2`` (their image pooling has a 1x1 BN).
"""
import argparse
import copy
import os.path as osp
import statistics
import sys
import time
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

from mmseg_rga.tooling.errors import add_debug_argument, run_main  # noqa: E402

CONFIG = osp.join(str(ROOT), 'configs/rga/paper_protocol/{}_r101-d8_4xb2-40k_cityscapes-769x769.py')
ROWS = ('ocnet-baseline', 'pspnet', 'deeplabv3')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--rows', nargs='+', default=['ocnet-baseline'], choices=ROWS)
    p.add_argument('--nodes', type=int, nargs='+', default=[33, 97],
                   help='RGA node grid sizes (pooled_size n x n)')
    p.add_argument('--size', type=int, default=97, help='C5 height and width')
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--reps', type=int, default=1)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--threads', type=int, default=0, help='torch threads (0: torch default)')
    add_debug_argument(p)
    args = p.parse_args(argv)
    for name in ('size', 'batch', 'reps'):
        if getattr(args, name) < 1:
            p.error(f'--{name} must be >= 1; got {getattr(args, name)}')
    if min(args.nodes) < 1:
        p.error(f'--nodes must be positive; got {args.nodes}')
    return args


def build_variant(row, variant, nodes):
    """(neck or None, decode head) of one placement, with SyncBN -> BN."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    from mmseg_rga.tooling.dist import revert_sync_bn_in_cfg
    suffix = {'plain': '', 'head': '-rga', 'c5': '-rganeck'}[variant]
    model = copy.deepcopy(Config.fromfile(CONFIG.format(row + suffix)).model)
    revert_sync_bn_in_cfg(model)
    if variant == 'head':
        model.decode_head.rga_cfg.pooled_size = (nodes, nodes)
    if variant == 'c5':
        model.neck.rga_cfg.pooled_size = (nodes, nodes)
    init_default_scope('mmseg')
    neck = MODELS.build(model.neck) if variant == 'c5' else None
    return neck, MODELS.build(model.decode_head)


def time_variant(neck, head, args):
    import torch
    levels = [torch.randn(args.batch, c, 1, 1) for c in (256, 512, 1024)]
    c5 = torch.randn(args.batch, 2048, args.size, args.size)
    modules = [m for m in (neck, head) if m is not None]
    for m in modules:
        m.train()
    times = []
    for i in range(args.warmup + args.reps):
        for m in modules:
            m.zero_grad(set_to_none=True)
        start = time.perf_counter()
        feats = levels + [c5]
        if neck is not None:
            feats = list(neck(feats))
        head(feats).sum().backward()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def count(*modules):
    return sum(p.numel() for m in modules if m is not None for p in m.parameters())


def main(argv=None):
    args = parse_args(argv)
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    import mmseg_rga  # noqa: F401  registers the RGA modules
    print(f'fake C5 ({args.batch}, 2048, {args.size}, {args.size}), train-mode forward+backward, '
          f'median of {args.reps} after {args.warmup} warm-up, {torch.get_num_threads()} threads')
    print('| row | placement | nodes | params (head + neck) | RGA params | fwd+bwd (s) | '
          'x plain |')
    print('|---|---|---:|---:|---:|---:|---:|')
    for row in args.rows:
        plain = None
        variants = [('plain', None)] + [(v, n) for v in ('head', 'c5') for n in args.nodes]
        for variant, nodes in variants:
            neck, head = build_variant(row, variant, nodes)
            rga = count(*[block for m in (neck, head) if m is not None
                          for block in m.modules() if type(block).__name__ == 'RGABlock'])
            seconds = time_variant(neck, head, args)
            plain = seconds if plain is None else plain
            label = {'plain': 'none', 'head': 'head map (512 ch)', 'c5': 'C5 (2048 ch)'}[variant]
            print(f'| {row} | {label} | {f"{nodes}x{nodes}" if nodes else "-"} | '
                  f'{count(neck, head) / 1e6:.2f}M | {rga / 1e6:.2f}M | {seconds:.2f} | '
                  f'{seconds / plain:.2f} |', flush=True)
            del neck, head


if __name__ == '__main__':
    run_main(main)
