"""Images per second of batched sliding-window inference against mmseg's, same model, one run.

Builds the config's model once as :class:`BatchedSlideEncoderDecoder` (random weights, or
``--checkpoint``), then times, interleaved rep by rep on the same inputs, mmseg's own
``EncoderDecoder.slide_inference`` (one ``encode_decode`` per window position) and the batched
one (``--crop-batch`` crops per call). Prints the median images/s of each, their ratio and the
largest absolute difference of the logits::

    python tools/analysis_tools/benchmark_slide.py --threads 1           # demo model, CPU
    python tools/analysis_tools/benchmark_slide.py \\
        configs/rga/pspnet-rga_r101-d8_4xb2-40k_cityscapes-769x769.py \\
        --shape 1024 2048 --batch 2 --crop-batch 16 --device cuda           # Cityscapes, GPU
"""
import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

import torch

from mmseg_rga.tooling.errors import ToolError, add_debug_argument, run_main  # noqa: E402

ROLES = ('mmseg', 'batched')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', nargs='?', default='configs/demo/pspnet-rga_r18-d8_synthetic.py')
    parser.add_argument('--checkpoint', help='weights to load (default: random, same for both)')
    parser.add_argument('--shape', type=int, nargs=2, default=(512, 1024), metavar=('H', 'W'),
                        help='image size (default 512 1024)')
    parser.add_argument('--batch', type=int, default=1, help='images per batch (default 1)')
    parser.add_argument('--crop-batch', type=int, default=8, help='crops per encode_decode call')
    parser.add_argument('--crop-size', type=int, nargs=2, metavar=('H', 'W'),
                        help="override test_cfg.crop_size (default: the config's)")
    parser.add_argument('--stride', type=int, nargs=2, metavar=('H', 'W'),
                        help="override test_cfg.stride (default: the config's)")
    parser.add_argument('--reps', type=int, default=3, help='timed reps after one warm-up')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--threads', type=int,
                        help="CPU threads (default: torch's); on a busy shared CPU use 1")
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    for name in ('batch', 'crop_batch', 'reps'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1; got {getattr(args, name)}')
    if not os.path.exists(args.config) and os.path.exists(os.path.join(ROOT, args.config)):
        args.config = os.path.join(ROOT, args.config)  # a repo config, run from elsewhere
    if min(args.shape) < 1:
        parser.error(f'--shape must be positive; got {args.shape}')
    return args


def build_model(args):
    """The config's EncoderDecoder as BatchedSlideEncoderDecoder, in slide mode, eval."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmseg.registry import MODELS

    import mmseg_rga  # noqa: F401  (registers the segmentor and the heads)
    from mmseg_rga.tooling.dist import revert_sync_bn_in_cfg
    from mmseg_rga.tooling.launch import read_config

    cfg = read_config(args.config)  # ToolError naming the nearest config if it is missing
    if cfg.model.get('type') not in ('EncoderDecoder', 'BatchedSlideEncoderDecoder'):
        raise ToolError(f"expected a config whose model is an EncoderDecoder; got type="
                         f"{cfg.model.get('type')!r} in {args.config}")
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.pop('data_preprocessor', None)
    model_cfg.pop('pretrained', None)
    model_cfg.backbone.pop('init_cfg', None)
    if args.device == 'cpu':
        revert_sync_bn_in_cfg(model_cfg)
    test_cfg = dict(model_cfg.get('test_cfg') or {}, mode='slide', crop_batch=args.crop_batch)
    for key in ('crop_size', 'stride'):
        if getattr(args, key) is not None:
            test_cfg[key] = tuple(getattr(args, key))
        if key not in test_cfg:
            raise ValueError(f'the config has no test_cfg.{key}; pass --{key.replace("_", "-")}')
    model_cfg.update(type='BatchedSlideEncoderDecoder', test_cfg=test_cfg)
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    return model.to(args.device).eval()


def _timed(fn, device):
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


@torch.no_grad()
def benchmark(model, args):
    """Median seconds per batch of each role and the max |logit difference|."""
    from mmseg.models.segmentors import EncoderDecoder
    h, w = args.shape
    torch.manual_seed(1)
    inputs = torch.randn(args.batch, 3, h, w, device=args.device)

    def metas():
        return [dict(ori_shape=(h, w), img_shape=(h, w), pad_shape=(h, w),
                     padding_size=[0, 0, 0, 0]) for _ in range(args.batch)]

    run = dict(mmseg=lambda: EncoderDecoder.slide_inference(model, inputs, metas()),
               batched=lambda: model.slide_inference(inputs, metas()))
    times = {role: [] for role in ROLES}
    outputs = {}
    for rep in range(args.reps + 1):  # the first rep warms up
        for role in ROLES:
            outputs[role], seconds = _timed(run[role], args.device)
            if rep:
                times[role].append(seconds)
    diff = (outputs['mmseg'] - outputs['batched']).abs().max().item()
    return {role: statistics.median(t) for role, t in times.items()}, diff


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = build_model(args)
    from mmseg_rga.models.segmentors import slide_windows
    cfg = model.test_cfg
    crops = len(slide_windows(tuple(args.shape), cfg.crop_size, cfg.stride))
    seconds, diff = benchmark(model, args)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f'{args.config} ({params:.2f} M params), {args.batch} image(s) of {args.shape[0]}x'
          f'{args.shape[1]}, crop {tuple(cfg.crop_size)} stride {tuple(cfg.stride)}: {crops} '
          f'windows per image; device {args.device}, {torch.get_num_threads()} threads, median '
          f'of {args.reps} reps')
    print(f'{"slide inference":<28}{"s / batch":>10}{"images/s":>10}')
    for role in ROLES:
        name = 'mmseg (1 window per call)' if role == 'mmseg' else \
            f'batched ({model.crop_batch} crops per call)'
        print(f'{name:<28}{seconds[role]:>10.3f}{args.batch / seconds[role]:>10.2f}')
    print(f'batched / mmseg images/s: {seconds["mmseg"] / seconds["batched"]:.2f}x; '
          f'max |logit difference|: {diff:.2e}')


if __name__ == '__main__':
    run_main(main)
