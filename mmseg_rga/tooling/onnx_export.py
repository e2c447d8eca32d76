"""ONNX export of a segmentor in whole-image mode, and its check with onnxruntime.

The graph's contract: input ``input``, a normalized RGB float32 batch (B, 3, H, W) (what the
model's ``data_preprocessor`` hands to the network: BGR -> RGB, mean and std applied, no
padding), output ``logits`` (B, num_classes, H, W), ``encode_decode`` with
``test_cfg.mode='whole'``. Sliding-window inference is not in the graph.

Two exporters of torch.onnx:

* ``'torchscript'`` (every torch in range, the only one before torch 2.5): traces the model. A
  dynamic export frees batch, height and width: the RGA pooling matrices and the final resize
  are computed in the graph from the runtime size (:mod:`mmseg_rga.models.fixed_size_graph`).
* ``'dynamo'`` (torch >= 2.5): ``torch.export``, then ONNX; fixed size only. torch.export
  specializes height and width where mmseg reads a size as a Python int (``resize``'s
  align-corners warning check), so it cannot free them.
"""
import warnings
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from mmseg_rga.compat import onnx_dynamo_export, onnx_torchscript_kwargs

EXPORTERS = ('torchscript', 'dynamo')
#: per exporter: the opset it writes unless told (TorchScript: the newest torch 2.1 writes)
DEFAULT_OPSET = dict(torchscript=17, dynamo=18)
#: einsum needs 12, aten::unflatten (the relation path's reshape) 13
MIN_OPSET = 13
INPUT_NAME, OUTPUT_NAME = 'input', 'logits'
#: the axes a dynamic export frees (TorchScript exporter)
DYNAMIC_AXES = {0: 'batch', 2: 'height', 3: 'width'}


def default_exporter(dynamic: bool) -> str:
    """``'torchscript'`` for a dynamic export or before torch 2.5, else ``'dynamo'``."""
    return 'dynamo' if onnx_dynamo_export() and not dynamic else 'torchscript'


class WholeImageSegmentor(torch.nn.Module):
    """``encode_decode`` of a segmentor: (B, 3, H, W) -> logits (B, num_classes, H, W).

    The image meta is the input's own size, read from the tensor (a value of the graph while
    exporting), so that the final resize follows the runtime size. Whole mode reads the first
    image's meta only: one meta keeps the batch axis free. The segmentor's adaptive average
    pools (PSP pyramids) are swapped, in place, for ones that export as matmuls built from the
    runtime size (:mod:`mmseg_rga.models.adaptive_pool_graph`; torch's kernel in eager mode).
    """

    def __init__(self, segmentor: torch.nn.Module):
        super().__init__()
        from mmseg_rga.models.adaptive_pool_graph import use_graph_adaptive_pools
        use_graph_adaptive_pools(segmentor)
        self.segmentor = segmentor

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        shape = inputs.shape[2:]
        meta = dict(img_shape=shape, ori_shape=shape, pad_shape=shape)
        return self.segmentor.encode_decode(inputs, [meta])


def export_onnx(module: torch.nn.Module, sample: torch.Tensor, path: str, exporter: str,
                dynamic: bool, opset: int) -> None:
    """Write ``module`` traced on ``sample`` to ``path`` with torch.onnx's ``exporter``
    (``dynamic``: batch, height and width free; TorchScript exporter only)."""
    if dynamic and exporter != 'torchscript':
        raise ValueError(f'a dynamic export needs the TorchScript exporter; got {exporter!r}')
    # the tracer warns at every size read as a Python number (mmseg's resize checks; they
    # do not reach the graph), and torch >= 2.9 that the TorchScript exporter is deprecated
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        if exporter == 'dynamo':
            program = torch.onnx.export(module, (sample,), opset_version=opset,
                                        input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                        dynamo=True)
            program.save(path)
            return
        axes = {INPUT_NAME: DYNAMIC_AXES, OUTPUT_NAME: DYNAMIC_AXES} if dynamic else None
        torch.onnx.export(module, (sample,), path, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes=axes, **onnx_torchscript_kwargs())


def session(path: str, threads: Optional[int] = None):
    """An onnxruntime CPU session of ``path`` (``threads``: intra-op threads, else ORT's)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(path, options, providers=['CPUExecutionProvider'])


def run(sess, inputs: np.ndarray) -> np.ndarray:
    """The logits of one float32 (B, 3, H, W) batch."""
    return sess.run(None, {sess.get_inputs()[0].name: inputs.astype(np.float32)})[0]


def compare_at_shapes(sess, module: torch.nn.Module, shapes: Sequence[Tuple[int, int]],
                      batch: int = 1, seed: int = 0) -> Dict[Tuple[int, int], float]:
    """Max abs difference between ORT and PyTorch logits on a random batch at each (H, W)."""
    diffs = {}
    generator = torch.Generator().manual_seed(seed)
    for height, width in shapes:
        inputs = torch.randn(batch, 3, height, width, generator=generator)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter('ignore')  # mmseg's resize: align_corners advice
            expected = module(inputs).numpy()
        got = run(sess, inputs.numpy())
        if got.shape != expected.shape:
            diffs[(height, width)] = float('inf')
            continue
        diffs[(height, width)] = float(np.abs(got - expected).max())
    return diffs
