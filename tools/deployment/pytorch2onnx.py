"""Export a segmentor (mmseg config + checkpoint) to ONNX in whole-image mode and check it.

The graph maps a normalized image batch (B, 3, H, W), i.e. what the model's data_preprocessor
hands to the network, to logits (B, num_classes, H, W) (``encode_decode`` with
``test_cfg.mode='whole'``). RGA blocks export as standard ops (matmul pooling, plain relation
GEMMs). SyncBN is turned into BN. When onnxruntime is installed, the ONNX model is run on a
random input and the max abs difference to PyTorch is printed; above ``--atol`` the tool exits 1.

    python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT --shape 769 769 \
        [--dynamic] [--out FILE] [--opset N] [--cfg-options KEY=VALUE ...] [--unsafe-load]

``--dynamic`` makes the batch axis dynamic. H and W stay fixed: the RoIAlign matrices and the
sampling grid of an RGA block are built for one input size (export once per deployment size).
"""
import argparse
import os
import os.path as osp
import sys
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

import torch

from mmseg_rga.tooling.errors import (  # noqa: E402
    ToolError,
    add_debug_argument,
    missing_config_message,
    run_main,
)


def parse_args(argv=None):
    from mmengine.config import DictAction

    from mmseg_rga.tooling.checkpoint import add_unsafe_load_argument
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file (.pth)')
    parser.add_argument('--shape', type=int, nargs=2, required=True, metavar=('H', 'W'),
                        help='input height and width')
    parser.add_argument('--dynamic', action='store_true', help='dynamic batch axis')
    parser.add_argument('--out', help='output file (default: the checkpoint name with .onnx)')
    parser.add_argument('--opset', type=int, default=18, help='ONNX opset version')
    parser.add_argument('--atol', type=float, default=1e-4,
                        help='max abs difference to PyTorch accepted by the onnxruntime check')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    add_unsafe_load_argument(parser)
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    if min(args.shape) < 1:
        raise ToolError(f'--shape needs two positive ints H W; got {args.shape}')
    if not osp.isfile(args.checkpoint):
        raise ToolError(f'checkpoint not found: {args.checkpoint!r} (expected a .pth file)')
    if not osp.isfile(args.config):
        raise ToolError(missing_config_message(args.config))
    return args


class WholeImageSegmentor(torch.nn.Module):
    """``encode_decode`` of a segmentor at one input size: (B, 3, H, W) -> logits."""

    def __init__(self, segmentor: torch.nn.Module, shape):
        super().__init__()
        self.segmentor = segmentor
        self.shape = tuple(shape)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        # whole mode reads the first image's meta only: one meta keeps the batch axis free
        meta = dict(img_shape=self.shape, ori_shape=self.shape, pad_shape=self.shape)
        return self.segmentor.encode_decode(inputs, [meta])


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


def export(args):
    segmentor = build_segmentor(args)
    module = WholeImageSegmentor(segmentor, args.shape).eval()
    out = args.out or osp.splitext(args.checkpoint)[0] + '.onnx'
    sample = torch.randn(2 if args.dynamic else 1, 3, *args.shape)
    dynamic_shapes = ({'inputs': {0: torch.export.Dim('batch', min=1)}}
                      if args.dynamic else None)
    with torch.no_grad():
        # eager first: the RGA pooling matrices are cached and export as constants
        expected = module(sample).numpy()
        program = torch.onnx.export(module, (sample,), dynamic_shapes=dynamic_shapes,
                                    opset_version=args.opset, input_names=['input'],
                                    output_names=['logits'], dynamo=True)
        program.save(out)
    print(f'saved {out} (input (B, 3, {args.shape[0]}, {args.shape[1]}), opset {args.opset}, '
          f'{"dynamic" if args.dynamic else "fixed"} batch)')
    return out, sample.numpy(), expected


def check_onnxruntime(path, sample, expected, atol):
    try:
        import onnxruntime
    except ImportError:
        print('onnxruntime is not installed: skipped the check (pip install onnxruntime)')
        return
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    (got,) = session.run(None, {session.get_inputs()[0].name: sample})
    diff = float(abs(got - expected).max())
    print(f'onnxruntime vs PyTorch: max abs diff {diff:.3e} (atol {atol:g})')
    if not diff <= atol:
        raise ToolError(f'onnxruntime output differs from PyTorch by {diff:.3e} > {atol:g}')


def main(argv=None):
    from mmseg_rga.compat import onnx_dynamo_export, require

    args = parse_args(argv)
    require(onnx_dynamo_export(), "ONNX export (torch.onnx.export(..., dynamo=True) and "
            "torch.export.Dim)", '2.5')
    try:
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError as err:
        raise ToolError('export needs onnx and onnxscript: pip install onnx onnxscript '
                        'onnxruntime') from err
    path, sample, expected = export(args)
    check_onnxruntime(path, sample, expected, args.atol)


if __name__ == '__main__':
    os.environ.setdefault('PYTHONWARNINGS', 'ignore')
    run_main(main)
