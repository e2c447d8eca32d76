"""onnxruntime latency of a static and a dynamic ONNX export of one model, and the dynamic file's
match with PyTorch at other sizes, in one run.

Builds the config's segmentor with random weights (BN statistics set from one training-mode
forward, so that the logits have a realistic scale; each variance at least a tenth of its
layer's mean, as a channel that random weights leave constant would amplify rounding), exports
it with the TorchScript exporter at ``--shape`` twice, fixed-size and with ``--dynamic``
(batch, height and width free), then times both files in onnxruntime on the same input,
interleaved run by run (best of ``--repeats`` after one warm-up each), and prints their ratio.
Each ``--check-shape`` runs the dynamic file at that size and prints its max abs difference to
PyTorch's ``encode_decode`` (``--fp64``: and PyTorch's own float32 error there);
above ``--atol`` the tool exits 1::

    python tools/analysis_tools/benchmark_onnx.py configs/rga/fcn_rga_cityscapes.py \\
        --shape 512 1024 --check-shape 1024 2048 --check-shape 769 769 --threads 2
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

import torch  # noqa: E402

from mmseg_rga.tooling.errors import ToolError, add_debug_argument, run_main  # noqa: E402

KINDS = ('static', 'dynamic')


def parse_args(argv=None):
    from mmseg_rga.tooling.launch import positive_int
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', nargs='?', default='configs/rga/fcn_rga_cityscapes.py')
    parser.add_argument('--shape', type=positive_int, nargs=2, default=(512, 1024),
                        metavar=('H', 'W'), help='traced and timed size (default 512 1024)')
    parser.add_argument('--check-shape', type=positive_int, nargs=2, action='append',
                        default=[], metavar=('H', 'W'),
                        help='another size at which the dynamic file is checked (repeatable)')
    parser.add_argument('--repeats', type=positive_int, default=3, help='timed runs per file')
    parser.add_argument('--threads', type=positive_int, default=2,
                        help='torch and onnxruntime intra-op threads (default 2)')
    parser.add_argument('--atol', type=float, default=1e-2,
                        help='max abs logit difference to PyTorch accepted (default 1e-2)')
    parser.add_argument('--fp64', action='store_true',
                        help="also print PyTorch's own float32 error at each size (against "
                        'the model in float64): the scale a difference to PyTorch is judged on')
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    if not os.path.exists(args.config) and os.path.exists(os.path.join(ROOT, args.config)):
        args.config = os.path.join(ROOT, args.config)  # a repo config, run from elsewhere
    return args


def build_module(config):
    """WholeImageSegmentor of the config's model: random weights, calibrated BN, eval mode."""
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import mmseg_rga  # noqa: F401  (registers the heads)
    from mmseg_rga.tooling.launch import read_config
    from mmseg_rga.tooling.onnx_export import WholeImageSegmentor

    cfg = read_config(config)
    model_cfg = cfg.model
    model_cfg.pop('pretrained', None)
    model_cfg.backbone.pop('init_cfg', None)
    model_cfg.update(test_cfg=dict(mode='whole'), auxiliary_head=None)
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(model_cfg))
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = None  # the statistics of the one calibration batch
    module = WholeImageSegmentor(model)
    with torch.no_grad():
        module.train()(torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(0)))
        for bn in model.modules():  # channels random weights leave (almost) constant would
            if isinstance(bn, torch.nn.modules.batchnorm._BatchNorm):  # amplify rounding
                bn.running_var.clamp_(min=float(bn.running_var.mean()) * 0.1)
    return module.eval()


def best_times(sessions, inputs, repeats):
    """Best seconds per run of each session, runs interleaved after one warm-up each."""
    from mmseg_rga.tooling.onnx_export import run
    times = {kind: [] for kind in sessions}
    for rep in range(repeats + 1):
        for kind, sess in sessions.items():
            start = time.perf_counter()
            run(sess, inputs)
            if rep:
                times[kind].append(time.perf_counter() - start)
    return {kind: min(t) for kind, t in times.items()}


def fp32_error(module, height, width):
    """Max abs difference of the float32 logits to the float64 ones on a random input."""
    inputs = torch.randn(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        single = module(inputs)
        double = module.double()(inputs.double())
    module.float()
    return float((single.double() - double).abs().max())


def main(argv=None):
    from mmseg_rga.tooling.onnx_export import compare_at_shapes, export_onnx, session

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    module = build_module(args.config)
    sample = torch.randn(1, 3, *args.shape, generator=torch.Generator().manual_seed(1))
    with tempfile.TemporaryDirectory() as tmp:
        sessions = {}
        for kind in KINDS:
            path = os.path.join(tmp, f'{kind}.onnx')
            start = time.perf_counter()
            export_onnx(module, sample, path, 'torchscript', kind == 'dynamic', 17)
            print(f'{kind} export at {args.shape[0]}x{args.shape[1]}: '
                  f'{time.perf_counter() - start:.1f} s')
            sessions[kind] = session(path, args.threads)
        best = best_times(sessions, sample.numpy(), args.repeats)
        print(f'\nonnxruntime, {args.threads} threads, {args.shape[0]}x{args.shape[1]}, best of '
              f'{args.repeats}\n\n| file | latency (s) |\n| --- | ---: |')
        for kind in KINDS:
            print(f'| {kind} | {best[kind]:.3f} |')
        print(f'\ndynamic / static: {best["dynamic"] / best["static"]:.3f}')
        shapes = [tuple(args.shape)] + [tuple(s) for s in args.check_shape]
        diffs = compare_at_shapes(sessions['dynamic'], module, shapes)
    for (height, width), diff in diffs.items():
        print(f'dynamic file vs PyTorch at {height}x{width}: max abs diff {diff:.3e}')
        if args.fp64:
            print(f"  PyTorch float32 vs float64 there: {fp32_error(module, height, width):.3e}")
    worst = max(diffs.values())
    if not worst <= args.atol:
        raise ToolError(f'the dynamic file differs from PyTorch by {worst:.3e} > {args.atol:g}')


if __name__ == '__main__':
    os.environ.setdefault('PYTHONWARNINGS', 'ignore')
    run_main(main)
