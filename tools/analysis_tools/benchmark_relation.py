"""Benchmark the factored relation path and the whole RGA-SC block against the straightforward
formulation (materialized R, its 2N-channel stack and the 1x1 conv; the official RGA_Module).

Each case runs forward + backward (with a preallocated upstream gradient, gradients set to None
between runs as a training step does) in a fresh subprocess so that its peak memory (the rise of
the process's resident high-water mark over its baseline, inputs and weights excluded) is
measured alone; times are the best of ``--repeats`` runs after one warm-up. Prints ratios
measured in this one run::

    python tools/analysis_tools/benchmark_relation.py                      # B=2, C=2048, 97x97
    python tools/analysis_tools/benchmark_relation.py --size 33 --repeats 3
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

from mmseg_rga.tooling.errors import ToolError, add_debug_argument, run_main  # noqa: E402

CASES = ('relation_fast', 'relation_reference', 'block_fast', 'block_reference')


def _rss_kib() -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def _make_case(case, batch, channels, size, ratio):
    import torch

    from mmseg_rga.models import RGABlock
    from mmseg_rga.models.relation import relation_embedding
    from mmseg_rga.testing import OfficialRGAModule, reference_relation_embedding

    torch.manual_seed(0)
    n = size * size
    if case.startswith('relation'):
        # the spatial branch's relation path: theta, phi (B, C/r, N), W (N/r, 2N)
        theta = torch.rand(batch, channels // ratio, n, requires_grad=True)
        phi = torch.rand(batch, channels // ratio, n, requires_grad=True)
        weight = (torch.randn(n // ratio, 2 * n) / n).requires_grad_()
        fn = relation_embedding if case == 'relation_fast' else reference_relation_embedding
        return (lambda: fn(theta, phi, weight)), torch.randn(batch, n // ratio, n), [
            theta, phi, weight]
    x = torch.relu(torch.randn(batch, channels, size, size)).requires_grad_()
    if case == 'block_reference':
        official = OfficialRGAModule(channels, n, cha_ratio=ratio, spa_ratio=ratio,
                                     down_ratio=ratio)
        return (lambda: official(x)), torch.randn_like(x), [x, *official.parameters()]
    # same layers and parameter count as the official module (tests/test_rga.py checks that
    # converted weights give the same outputs); built alone so its peak memory is its own
    block = RGABlock(channels, size, order='SC', ratio_channel=ratio, ratio_spatial=ratio,
                     ratio_logit=ratio)
    return (lambda: block(x)), torch.randn_like(x), [x, *block.parameters()]


def run_case(case, batch, channels, size, ratio, repeats):
    """Child process: time forward+backward, report peak RSS rise."""
    import torch
    torch.set_num_threads(int(os.environ.get('BENCH_THREADS', os.cpu_count() or 1)))
    # the upstream gradient is allocated up front: only the path's own memory is measured
    fn, upstream, leaves = _make_case(case, batch, channels, size, ratio)
    base = _rss_kib()
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        out = fn()
        out.backward(upstream)
        times.append(time.perf_counter() - start)
        del out
        for leaf in leaves:  # as optimizer.zero_grad(set_to_none=True) does between steps
            leaf.grad = None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps(dict(case=case, seconds=min(times[1:]) if repeats else times[0],
                          peak_mib=(peak - base) / 1024)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--channels', type=int, default=2048)
    parser.add_argument('--size', type=int, default=97, help='H = W of the (unpooled) input')
    parser.add_argument('--ratio', type=int, default=8, help='r_c = r_s = r_d')
    parser.add_argument('--repeats', type=int, default=1)
    parser.add_argument('--case', choices=CASES, help=argparse.SUPPRESS)
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    if args.case:
        run_case(args.case, args.batch, args.channels, args.size, args.ratio, args.repeats)
        return
    results = {}
    for case in CASES:
        cmd = [sys.executable, __file__, '--case', case, '--batch', str(args.batch),
               '--channels', str(args.channels), '--size', str(args.size),
               '--ratio', str(args.ratio), '--repeats', str(args.repeats)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-3000:])
            raise ToolError(f'benchmark case {case} failed (exit {proc.returncode}); its last '
                            'output is above')
        results[case] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f'RGA relation path and RGA-SC block, forward+backward, B={args.batch}, '
          f'C={args.channels}, {args.size}x{args.size} (N={args.size ** 2}), ratios {args.ratio}, '
          f'{os.cpu_count()} CPU threads')
    print(f'{"case":<20}{"time (s)":>10}{"peak (MiB)":>12}')
    for case, r in results.items():
        print(f'{case:<20}{r["seconds"]:>10.3f}{r["peak_mib"]:>12.0f}')
    for part in ('relation', 'block'):
        fast, ref = results[f'{part}_fast'], results[f'{part}_reference']
        print(f'{part}: {ref["seconds"] / fast["seconds"]:.1f}x faster, '
              f'{ref["peak_mib"] / max(fast["peak_mib"], 1e-3):.1f}x less peak memory')


if __name__ == '__main__':
    run_main(main)
