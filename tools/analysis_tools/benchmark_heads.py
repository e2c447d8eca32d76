"""Peer decode heads against the RGA heads: train-mode forward + backward time, peak memory, params.

Every head is built from its config's ``decode_head`` (mmseg's own R-101-D8 769x769 Cityscapes
configs for the peers, ``configs/rga/*-40k*.py`` for ours, ``rga_cfg.pooled_size`` overridden
for the 97x97-node rows; SyncBN -> BN on CPU) and runs alone in a fresh subprocess of this script
on the same fake backbone features (fixed seed: B=2, ResNet-101-D8 levels of 256/512/1024/2048
channels, the last three at ``--size`` x ``--size`` (97 for a 769 crop), the first at twice
that). A step is the head's forward in train mode and the backward of the sum of its outputs;
time is the median of ``--reps`` steps after ``--warmup`` (1) untimed ones; peak memory is the
rise of the process's resident high-water mark over its level before the first step (CPU) or
``torch.cuda.max_memory_allocated`` over the memory allocated before it (GPU). Ratios are to the
first head that ran (``psp`` by default), all measured in this one run::

    python tools/analysis_tools/benchmark_heads.py --threads 1            # all heads, CPU
    python tools/analysis_tools/benchmark_heads.py --heads psp rga-psp --size 17 --reps 1
    python tools/analysis_tools/benchmark_heads.py --device cuda --reps 10  # GPU
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

from mmseg_rga.tooling.errors import add_debug_argument, run_main  # noqa: E402

MMSEG = 'mmseg::{}_r101-d8_4xb2-40k_cityscapes-769x769.py'
OURS = 'configs/rga/{}-rga_r101-d8_4xb2-40k_cityscapes-769x769.py'
#: key -> (config, RGA node count override or None)
HEADS = {
    'psp': (MMSEG.format('pspnet/pspnet'), None),
    'aspp': (MMSEG.format('deeplabv3/deeplabv3'), None),
    'fcn': (MMSEG.format('fcn/fcn'), None),
    'nl': (MMSEG.format('nonlocal_net/nonlocal'), None),
    'da': (MMSEG.format('danet/danet'), None),
    'cc': (MMSEG.format('ccnet/ccnet'), None),
    'gc': (MMSEG.format('gcnet/gcnet'), None),
    'psa': (MMSEG.format('psanet/psanet'), None),
    'isa': (MMSEG.format('isanet/isanet'), None),
    'rga-psp': (OURS.format('pspnet'), None),
    'rga-psp-97': (OURS.format('pspnet'), 97),
    'rga-aspp': (OURS.format('deeplabv3'), None),
    'rga-aspp-97': (OURS.format('deeplabv3'), 97),
    'rga-fcn': (OURS.format('fcn'), None),
    'rga-fcn-97': (OURS.format('fcn'), 97),
}
LEVEL_CHANNELS = (256, 512, 1024, 2048)


def config_path(config: str) -> str:
    """``mmseg::x.py`` -> the installed mmseg's config file; other paths are from the repo root."""
    if config.startswith('mmseg::'):
        import mmseg
        return os.path.join(os.path.dirname(mmseg.__file__), '.mim', 'configs',
                            config[len('mmseg::'):])
    return os.path.join(ROOT, config)


def build_head(key: str, device: str):
    """The decode head of ``HEADS[key]``'s config, in train mode on ``device``."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import mmseg_rga  # noqa: F401  (registers the RGA heads)
    from mmseg_rga.tooling.dist import revert_sync_bn_in_cfg  # SyncBN -> BN (one process)

    config, nodes = HEADS[key]
    head_cfg = Config.fromfile(config_path(config)).model.decode_head
    if device == 'cpu':
        revert_sync_bn_in_cfg(head_cfg)
    if nodes is not None:
        head_cfg.rga_cfg.pooled_size = (nodes, nodes)
    init_default_scope('mmseg')
    return MODELS.build(head_cfg).to(device).train()


def fake_features(size: int, batch: int, device: str):
    """ResNet-101-D8 outputs: level 1 at output stride 4, levels 2-4 at ``size`` (OS 8)."""
    import torch
    generator = torch.Generator().manual_seed(0)
    sizes = (2 * size - 1, size, size, size)
    return [torch.randn(batch, c, s, s, generator=generator).relu_().to(device)
            for c, s in zip(LEVEL_CHANNELS, sizes)]


def _peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _rss_kib() -> int:
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) for line in f if line.startswith('VmRSS:'))


def _step(head, feats, device):
    import torch
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = head(feats)
    outputs = out if isinstance(out, (list, tuple)) else [out]  # DAHead: 3 maps in training
    sum(o.float().sum() for o in outputs).backward()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    head.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def run_worker(args) -> None:
    """Child process: one head; prints a JSON line with its params, time and peak memory."""
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    head = build_head(args.worker, args.device)
    feats = fake_features(args.size, args.batch, args.device)
    cuda = args.device.startswith('cuda')
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated() if cuda else _rss_kib() * 1024
    times = [_step(head, feats, args.device) for _ in range(args.warmup + args.reps)]
    times = times[args.warmup:]
    peak = torch.cuda.max_memory_allocated() if cuda else _peak_rss_kib() * 1024
    print(json.dumps(dict(
        head=type(head).__name__, params=sum(p.numel() for p in head.parameters()),
        nodes=getattr(getattr(head, 'rga', None), 'pooled_size', None),
        seconds=statistics.median(times), peak_mib=(peak - base) / 2**20)))


def run_all(args) -> dict:
    """Each head in its own subprocess; a failed head gets ``{'error': reason}``."""
    results = {}
    for key in args.heads:
        cmd = [sys.executable, os.path.abspath(__file__), '--worker', key, '--size',
               str(args.size), '--batch', str(args.batch), '--reps', str(args.reps),
               '--warmup', str(args.warmup), '--device', args.device,
               '--threads', str(args.threads or 0)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        lines = proc.stdout.strip().splitlines()
        if proc.returncode == 0 and lines:
            results[key] = json.loads(lines[-1])
        else:
            errors = [line for line in proc.stderr.strip().splitlines() if 'Error' in line]
            reason = (errors or proc.stderr.strip().splitlines() or ['no output'])[-1]
            results[key] = dict(error=reason.strip()[:100])
        print(f'{key}: {results[key]}', file=sys.stderr, flush=True)
    return results


def print_table(results: dict, args) -> None:
    ok = [k for k, r in results.items() if 'error' not in r]
    ref = results[ok[0]] if ok else None
    print(f'Decode heads, train-mode forward + backward, B={args.batch}, features at '
          f'{args.size}x{args.size}, device {args.device}, threads '
          f'{args.threads or "default"}, median of {args.reps} after {args.warmup} warm-up; '
          f'ratios to {ok[0] if ok else "-"}')
    print(f'| {"head":<12}| {"class":<14}| {"nodes":<6}| {"params (M)":>10} | {"time (s)":>8} '
          f'| {"time x":>6} | {"peak (MiB)":>10} | {"memory x":>8} |')
    print('|' + '|'.join('-' * n for n in (13, 15, 7, 12, 10, 8, 12, 10)) + '|')
    for key, r in results.items():
        if 'error' in r:
            print(f'| {key:<12}| n/a ({r["error"]}) |')
            continue
        nodes = 'x'.join(map(str, r['nodes'])) if r['nodes'] else '-'
        print(f'| {key:<12}| {r["head"]:<14}| {nodes:<6}| {r["params"] / 1e6:>10.2f} | '
              f'{r["seconds"]:>8.3f} | {r["seconds"] / ref["seconds"]:>6.2f} | '
              f'{r["peak_mib"]:>10.0f} | {r["peak_mib"] / max(ref["peak_mib"], 1e-3):>8.2f} |')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--heads', nargs='+', default=list(HEADS), metavar='KEY',
                        help=f'heads to run, in order (default: all): {" ".join(HEADS)}')
    parser.add_argument('--size', type=int, default=97, help='feature map size at OS 8 (97)')
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--reps', type=int, default=3, help='timed steps after one warm-up')
    parser.add_argument('--warmup', type=int, default=1, help='untimed steps first (1)')
    parser.add_argument('--device', default='cpu', help='cpu or cuda')
    parser.add_argument('--threads', type=int, default=0, help="CPU threads (0: torch's)")
    parser.add_argument('--worker', choices=list(HEADS), help=argparse.SUPPRESS)
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    unknown = [k for k in args.heads if k not in HEADS]
    if unknown:
        parser.error(f'unknown head(s) {unknown}; expected some of: {" ".join(HEADS)}')
    for name in ('size', 'batch', 'reps'):
        if getattr(args, name) < 1:
            parser.error(f'--{name} must be >= 1; got {getattr(args, name)}')
    if args.warmup < 0:
        parser.error(f'--warmup must be >= 0; got {args.warmup}')
    if args.worker:
        run_worker(args)
    else:
        print_table(run_all(args), args)


if __name__ == '__main__':
    run_main(main)
