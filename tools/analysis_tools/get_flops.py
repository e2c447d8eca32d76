"""Parameters and FLOPs of a segmentor (or of one RGA-SC block), the RGA relation path included.

mmseg 1.2.2's own get_flops.py fails ('"input_shape" and "inputs" cannot be both set'), and
mmengine's counter miscounts the RGA pooling and relation GEMMs; this tool counts the model in
tensor mode (backbone + decode head, one image) with mmengine and replaces the RGA parts by their
exact count (mmseg_rga.analysis.flops). 1 FLOP = 1 multiply-add, as mmengine counts. SyncBN is
turned into BN (CPU).

    python tools/analysis_tools/get_flops.py CONFIG --shape 769 769
    python tools/analysis_tools/get_flops.py CONFIG --shape 1024 2048 --sweep-pooled 17 25 33 49 97
    python tools/analysis_tools/get_flops.py --block 512 --shape 769 769 --sweep-pooled 17 33

``--sweep-pooled`` prints one row per node count S (S x S pooled): the model is counted once and
only its RGA blocks (the one part that depends on S) are recounted. ``--block C`` counts an
RGA-SC block alone (r = 8, align_corners=True) on the output-stride-8 map of an H x W image.
"""
import argparse
import sys
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

import torch

from mmseg_rga.tooling.errors import ToolError, add_debug_argument, run_main  # noqa: E402


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', nargs='?', help='model config file (not with --block)')
    parser.add_argument('--shape', type=int, nargs=2, required=True, metavar=('H', 'W'),
                        help='input image height and width')
    parser.add_argument('--sweep-pooled', type=int, nargs='+', metavar='S',
                        help='also count the model with S x S RGA nodes, for each S')
    parser.add_argument('--block', type=int, metavar='C',
                        help='count one RGA-SC block with C channels instead of a config')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    if min(args.shape) < 1:
        raise ToolError(f'--shape needs two positive ints H W; got {args.shape}')
    if (args.config is None) == (args.block is None):
        raise ToolError('give a CONFIG or --block C (one of the two)')
    if args.sweep_pooled and min(args.sweep_pooled) < 1:
        raise ToolError(f'--sweep-pooled needs positive ints; got {args.sweep_pooled}')
    return args


def build_model(args):
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    from mmseg_rga.tooling.dist import revert_sync_bn_in_cfg
    from mmseg_rga.tooling.launch import read_config

    cfg = read_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    revert_sync_bn_in_cfg(cfg.model)
    cfg.model.pretrained = None
    cfg.model.backbone.init_cfg = None
    return MODELS.build(cfg.model).eval()


def build_block(args):
    from mmseg_rga.models import RGABlock

    feature = [(side - 1) // 8 + 1 for side in args.shape]  # output stride 8
    model = RGABlock(args.block, 33, order='SC', align_corners=True).eval()
    holder = torch.nn.Module()
    holder.rga = model
    return holder, torch.zeros(1, args.block, *feature)


def report(title, counts):
    giga = 1e9
    print(f'{title}: params {counts["params"] / 1e6:.3f} M, FLOPs {counts["flops"] / giga:.3f} G '
          f'(RGA relation {counts["relation"] / giga:.4f} G, RGA pooling '
          f'{counts["pooling"] / giga:.4f} G; mmengine alone: {counts["mmengine"] / giga:.3f} G)')


def main(argv=None):
    from mmseg_rga.analysis.flops import count_flops, sweep_pooled
    args = parse_args(argv)
    if args.block:
        model, inputs = build_block(args)
        counts = count_flops(model.rga, inputs)
        counts['blocks'] = {'rga': tuple(inputs.shape)}
        what = f'RGA-SC block C={args.block} on {tuple(inputs.shape[-2:])} (S=33)'
    else:
        model = build_model(args)
        inputs = torch.zeros(1, 3, *args.shape)
        counts = count_flops(model, inputs)
        what = f'{args.config} at {args.shape[0]}x{args.shape[1]}'
    report(what, counts)
    if args.sweep_pooled:
        rows = sweep_pooled(model, counts, args.sweep_pooled)
        print('| S | params (M) | GFLOPs | relation GFLOPs | pooling GFLOPs |')
        print('| --- | --- | --- | --- | --- |')
        for size, row in rows.items():
            print(f'| {size} | {row["params"] / 1e6:.3f} | {row["flops"] / 1e9:.2f} | '
                  f'{row["relation"] / 1e9:.3f} | {row["pooling"] / 1e9:.3f} |')


if __name__ == '__main__':
    run_main(main)
