r"""Export a segmentor (mmseg config + checkpoint) to ONNX in whole-image mode and check it.

The graph maps a normalized RGB image batch (B, 3, H, W), i.e. what the model's
data_preprocessor hands to the network, to logits (B, num_classes, H, W) (``encode_decode`` with
``test_cfg.mode='whole'``; sliding windows are not in the graph). RGA blocks export as standard
ops (matmul pooling, plain relation GEMMs). SyncBN is turned into BN. When onnxruntime is
installed, the ONNX model is run on a random input at ``--shape`` and at every ``--check-shape``
and the max abs difference to PyTorch is printed; above ``--atol`` the tool exits 1.

    python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT --shape 769 769 \
        [--dynamic] [--check-shape H W ...] [--exporter {torchscript,dynamo}] [--out FILE] \
        [--opset N] [--cfg-options KEY=VALUE ...] [--unsafe-load]

``--dynamic`` frees batch, height and width: one file takes every input size (the RGA pooling
matrices are computed in the graph from the runtime size). Without it the file takes exactly
(1, 3, H, W) of ``--shape``. ``--exporter``: torch.onnx's TorchScript exporter (every torch in
range; the default for ``--dynamic`` and before torch 2.5) or its dynamo exporter (torch >= 2.5,
fixed size only; the default there otherwise).
"""
import argparse
import os
import os.path as osp
import re
import sys
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

import torch  # noqa: E402

from mmseg_rga.tooling.errors import (  # noqa: E402
    ToolError,
    add_debug_argument,
    missing_config_message,
    raised_at,
    run_main,
)
from mmseg_rga.tooling.onnx_export import (  # noqa: E402
    DEFAULT_OPSET,
    EXPORTERS,
    MIN_OPSET,
    default_exporter,
)


def parse_args(argv=None):
    from mmengine.config import DictAction

    from mmseg_rga.tooling.checkpoint import add_unsafe_load_argument
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file (.pth)')
    parser.add_argument('--shape', type=int, nargs=2, required=True, metavar=('H', 'W'),
                        help='input height and width traced (and checked)')
    parser.add_argument('--dynamic', action='store_true',
                        help='dynamic batch, height and width: one file for every input size')
    parser.add_argument('--check-shape', type=int, nargs=2, action='append', default=[],
                        metavar=('H', 'W'), help='another input size at which the exported file '
                        'is checked against PyTorch (needs --dynamic; repeatable)')
    parser.add_argument('--exporter', choices=EXPORTERS,
                        help="torch.onnx's exporter (default: torchscript with --dynamic, else "
                        f"here {default_exporter(False)})")
    parser.add_argument('--out', help='output file (default: the checkpoint name with .onnx)')
    parser.add_argument('--opset', type=int, help='ONNX opset version (default: '
                        + ', '.join(f'{k} {v}' for k, v in DEFAULT_OPSET.items()) + ')')
    parser.add_argument('--atol', type=float, default=1e-4,
                        help='max abs difference to PyTorch accepted by the onnxruntime check')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    add_unsafe_load_argument(parser)
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    check_args(args)
    return args


def check_args(args):
    for flag, shape in [('--shape', args.shape)] + [('--check-shape', s)
                                                     for s in args.check_shape]:
        if min(shape) < 1:
            raise ToolError(f'{flag} needs two positive ints H W; got {shape}')
    if args.check_shape and not args.dynamic:
        raise ToolError('--check-shape needs --dynamic: a file exported without it takes only '
                        f'the --shape size {tuple(args.shape)}')
    if args.dynamic and args.exporter == 'dynamo':
        raise ToolError('--dynamic needs --exporter torchscript: torch.export fixes height and '
                        "width where mmseg reads a size as a Python int (the dynamo exporter "
                        'exports one fixed size)')
    args.exporter = args.exporter or default_exporter(args.dynamic)
    args.opset = args.opset or DEFAULT_OPSET[args.exporter]
    if args.opset < MIN_OPSET:
        raise ToolError(f'--opset must be >= {MIN_OPSET} (einsum and unflatten); got '
                        f'{args.opset}')
    if not osp.isfile(args.checkpoint):
        raise ToolError(f'checkpoint not found: {args.checkpoint!r} (expected a .pth file)')
    if not osp.isfile(args.config):
        raise ToolError(missing_config_message(args.config))


def build_segmentor(args):
    """The segmentor in eval mode, whole-image test mode, BN instead of SyncBN, weights loaded
    weights-only with the allowlist of mmengine checkpoints (unless ``--unsafe-load``)."""
    from mmseg_rga.engine import UnsafeCheckpointError
    from mmseg_rga.tooling.inference import load_model

    try:
        return load_model(args.config, args.checkpoint, 'cpu', cfg_options=args.cfg_options,
                          unsafe_load=args.unsafe_load)
    except UnsafeCheckpointError as err:
        raise ToolError(str(err)) from None


def exporter_message(err):
    """The exporter's complaint on one line, without its boilerplate, or None when ``err`` was
    not raised by torch.onnx / torch.export (a bug elsewhere, reported as one)."""
    where = raised_at(err)
    inside = re.search(r'torch[/\\](onnx|export|_dynamo)[/\\]', where.filename if where else '')
    if not (type(err).__module__.startswith('torch.onnx') or inside):
        return None
    text = ' '.join(str(err).split())
    for cut in ('. Please feel free', ' [Caused by', ' For more information'):
        text = text.split(cut)[0]
    return f'{type(err).__name__}: {text[:500]}'


def export(args, module):
    from mmseg_rga.tooling.onnx_export import export_onnx

    out = args.out or osp.splitext(args.checkpoint)[0] + '.onnx'
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    sample = torch.randn(2 if args.dynamic else 1, 3, *args.shape)
    try:
        export_onnx(module, sample, out, args.exporter, args.dynamic, args.opset)
    except Exception as err:  # noqa: B902  (the exporters raise many types for one problem)
        message = exporter_message(err)
        if message is None:
            raise
        raise ToolError(f'the {args.exporter} exporter failed at opset {args.opset}: '
                        f'{message}') from None
    axes = 'batch, height and width' if args.dynamic else 'no'
    print(f'saved {out} (input (B, 3, H, W) traced at {tuple(args.shape)}, opset '
          f'{args.opset}, {args.exporter} exporter, {axes} dynamic axes)')
    return out


def check_onnxruntime(path, module, shapes, atol, batch):
    try:
        from mmseg_rga.tooling.onnx_export import compare_at_shapes, session
        sess = session(path)
    except ImportError:
        print('onnxruntime is not installed: skipped the check (pip install onnxruntime)')
        return
    worst = 0.0
    for shape, diff in compare_at_shapes(sess, module, shapes, batch).items():
        print(f'onnxruntime vs PyTorch at {shape[0]}x{shape[1]}: max abs diff {diff:.3e} '
              f'(atol {atol:g})')
        worst = max(worst, diff)
    if not worst <= atol:
        raise ToolError(f'onnxruntime output differs from PyTorch by {worst:.3e} > {atol:g}')


def main(argv=None):
    from mmseg_rga.compat import onnx_dynamo_export, require
    from mmseg_rga.tooling.onnx_export import WholeImageSegmentor

    args = parse_args(argv)
    if args.exporter == 'dynamo':
        require(onnx_dynamo_export(), "--exporter dynamo (torch.onnx.export(..., dynamo=True))",
                '2.5')
    try:
        import onnx  # noqa: F401  (both exporters write through it)
        if args.exporter == 'dynamo':
            import onnxscript  # noqa: F401  (the dynamo exporter needs it)
    except ImportError as err:
        raise ToolError(f'export needs onnx{" and onnxscript" if args.exporter == "dynamo" else ""}'
                        ': pip install onnx onnxscript onnxruntime') from err
    module = WholeImageSegmentor(build_segmentor(args)).eval()
    path = export(args, module)
    check_onnxruntime(path, module, [tuple(args.shape)] + [tuple(s) for s in args.check_shape],
                      args.atol, batch=2 if args.dynamic else 1)


if __name__ == '__main__':
    os.environ.setdefault('PYTHONWARNINGS', 'ignore')
    run_main(main)
