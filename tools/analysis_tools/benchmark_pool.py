"""Benchmark FixedSizePool's matrix RoIAlign against mmcv's roi_align kernel (same geometry).

For each (input size -> pooled size) case, both run forward and forward+backward on the same
(B, C, H, W) input in this one process; times are the best of ``--repeats`` runs after one
warm-up (the matrices are cached after the first call, as in training). Prints the ratios
matrix / kernel measured in this run (< 1: the matrices are faster)::

    python tools/analysis_tools/benchmark_pool.py                  # B=2, C=512, Cityscapes
    python tools/analysis_tools/benchmark_pool.py --channels 2048 --repeats 5
"""
import argparse
import math
import sys
import time
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

import torch
import torch.nn.functional as F

from mmseg_rga.tooling.errors import add_debug_argument, run_main  # noqa: E402

#: (H, W) -> (h, w): the 769-crop map to 33x33 nodes, the whole 1024x2048 image's map to 33x33
#: and to 97x97 nodes (output stride 8).
CASES = (((97, 97), (33, 33)), ((129, 257), (33, 33)), ((129, 257), (97, 97)))


def kernel_pool(pool, x):
    """mmcv's roi_align kernel with the same box, replicate padding and sampling grid."""
    from mmcv.ops import roi_align
    height, width = x.shape[-2:]
    (y1, y2, bin_h), (x1, x2, bin_w) = (pool._axis(height, pool.pooled_size[0]),
                                        pool._axis(width, pool.pooled_size[1]))
    pad = math.ceil(max(bin_h, bin_w) / 2) if pool.align_corners else 0
    source = F.pad(x, (pad,) * 4, mode='replicate') if pad else x
    rois = source.new_tensor([0.0, x1 + pad, y1 + pad, x2 + pad, y2 + pad]).repeat(len(x), 1)
    rois[:, 0] = torch.arange(len(x), dtype=rois.dtype)
    sampling = max(1, math.ceil(max(bin_h, bin_w)))
    return roi_align(source.contiguous(), rois, pool.pooled_size, 1.0, sampling, 'avg', True)


def best_time(fn, repeats):
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times[1:])


def measure(fn, x, upstream, repeats):
    """(forward seconds, forward+backward seconds)."""
    def forward():
        with torch.no_grad():
            fn(x)

    def train_step():
        x.grad = None
        fn(x).backward(upstream)

    return best_time(forward, repeats), best_time(train_step, repeats)


def main(argv=None):
    from mmseg_rga.models import FixedSizePool

    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--channels', type=int, default=512)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--align-corners', type=int, default=1, choices=(0, 1))
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    print(f'B={args.batch} C={args.channels} align_corners={bool(args.align_corners)} '
          f'threads={torch.get_num_threads()}, best of {args.repeats}')
    print('| input -> nodes | fwd matrix (ms) | fwd kernel (ms) | fwd ratio | '
          'fwd+bwd matrix (ms) | fwd+bwd kernel (ms) | fwd+bwd ratio |')
    print('| --- | --- | --- | --- | --- | --- | --- |')
    for size, pooled in CASES:
        torch.manual_seed(0)
        pool = FixedSizePool(pooled, bool(args.align_corners))
        x = torch.randn(args.batch, args.channels, *size, requires_grad=True)
        upstream = torch.randn(args.batch, args.channels, *pooled)
        ours = measure(pool.pool, x, upstream, args.repeats)
        kernel = measure(lambda t: kernel_pool(pool, t), x, upstream, args.repeats)
        cells = [f'{1e3 * ours[0]:.1f}', f'{1e3 * kernel[0]:.1f}', f'{ours[0] / kernel[0]:.2f}',
                 f'{1e3 * ours[1]:.1f}', f'{1e3 * kernel[1]:.1f}', f'{ours[1] / kernel[1]:.2f}']
        print(f'| {size[0]}x{size[1]} -> {pooled[0]}x{pooled[1]} | ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
    run_main(main)
