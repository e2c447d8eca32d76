"""Pooling matrices built in an exported graph from the runtime size: FixedSizePool's
(:mod:`mmseg_rga.models.fixed_size_graph`), the same as the eager cache bit for bit in PyTorch
and in onnxruntime, one exported block pooling every input size; adaptive average pooling's
(:mod:`mmseg_rga.models.adaptive_pool_graph`), torch's bins."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmseg_rga.compat import onnx_torchscript_kwargs
from mmseg_rga.models import RGABlock
from mmseg_rga.models.adaptive_pool_graph import (
    GraphAdaptiveAvgPool2d,
    adaptive_avg_matrix,
    use_graph_adaptive_pools,
)
from mmseg_rga.models.fixed_size import FixedSizePool
from mmseg_rga.models.fixed_size_graph import graph_matrices

SIZES = [(1, 1), (1, 5), (2, 2), (5, 7), (9, 9), (13, 11), (33, 33), (40, 25), (7, 300),
         (129, 257)]
POOLED = [(1, 1), (3, 3), (5, 9), (33, 33), (12, 4)]


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('align_corners', [False, True])
@pytest.mark.parametrize('pooled', POOLED)
def test_graph_matrices_equal_the_eager_ones(pooled, align_corners, dtype):
    pool = FixedSizePool(pooled, align_corners)
    for height, width in SIZES:
        eager = pool.matrices(height, width, dtype)
        for size in ((height, width), (torch.tensor(height), torch.tensor(width))):  # as traced
            for got, ref in zip(graph_matrices(*size, pooled, align_corners, dtype), eager):
                assert got.dtype == dtype and torch.equal(got, ref), (size, pooled)


class _Matrices(torch.nn.Module):
    """The pooling matrices, the pooled map and the block output of one input, as outputs."""

    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, x):
        rows, cols = graph_matrices(x.shape[-2], x.shape[-1], self.block.pooled_size,
                                    self.block.pool.align_corners)
        return rows, cols, self.block.pool.pool(x), self.block(x)


def _export(module, sample, path):
    axes = {0: 'batch', 2: 'height', 3: 'width'}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.onnx.export(module, (sample,), str(path), opset_version=17, input_names=['x'],
                          output_names=['rows', 'cols', 'pooled', 'out'],
                          dynamic_axes={'x': axes}, **onnx_torchscript_kwargs())


@pytest.mark.parametrize('align_corners', [False, True])
def test_one_exported_block_pools_every_size_like_eager(tmp_path, align_corners):
    """Exported at 13x11, run at sizes of other aspect ratios, sizes the 5x5 node grid divides
    and does not, and the node grid itself: the graph's matrices are the eager ones."""
    onnxruntime = pytest.importorskip('onnxruntime')
    pytest.importorskip('onnx')
    torch.manual_seed(0)
    block = RGABlock(8, (5, 5), order='SC', ratio_channel=2, ratio_spatial=5, ratio_logit=2,
                     align_corners=align_corners).eval()
    _export(_Matrices(block).eval(), torch.randn(2, 8, 13, 11), tmp_path / 'block.onnx')
    session = onnxruntime.InferenceSession(str(tmp_path / 'block.onnx'),
                                           providers=['CPUExecutionProvider'])
    for height, width in [(13, 11), (5, 5), (20, 10), (7, 31), (1, 1), (40, 25)]:
        x = torch.randn(1, 8, height, width)
        rows, cols, pooled, out = session.run(None, {'x': x.numpy()})
        eager_rows, eager_cols = block.pool.matrices(height, width)
        assert np.array_equal(rows, eager_rows.numpy()), (height, width)
        assert np.array_equal(cols, eager_cols.numpy()), (height, width)
        with torch.no_grad():
            np.testing.assert_allclose(pooled, block.pool.pool(x).numpy(), rtol=0, atol=1e-5)
            np.testing.assert_allclose(out, block(x).numpy(), rtol=0, atol=1e-5)


@pytest.mark.parametrize('pooled', [(1, 2), (2, 3), (6, 6), (7, 5)])
def test_adaptive_pool_matrices_are_torchs_bins(pooled):
    """Adaptive average pooling as matmuls built from the size (int or traced) is torch's."""
    torch.manual_seed(0)
    for height, width in [(1, 1), (3, 2), (8, 12), (13, 11), (97, 33)]:
        x = torch.randn(2, 3, height, width, dtype=torch.float64)
        rows, cols = (adaptive_avg_matrix(height, pooled[0], x.dtype),
                      adaptive_avg_matrix(width, pooled[1], x.dtype))
        for traced, matrix in ((torch.tensor(height), rows), (torch.tensor(width), cols)):
            length = int(traced)
            assert torch.equal(adaptive_avg_matrix(traced, matrix.shape[0], x.dtype), matrix)
            assert matrix.shape == (matrix.shape[0], length)
        torch.testing.assert_close(torch.matmul(torch.matmul(rows, x), cols.t()),
                                   F.adaptive_avg_pool2d(x, pooled), rtol=0, atol=1e-12)


def test_graph_adaptive_pools_replace_all_but_global_ones_and_keep_eager_results():
    model = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(3), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d((2, 6))))
    x = torch.randn(1, 2, 13, 11)
    expected = [m(x) for m in (model[0], model[1], model[2])]
    assert use_graph_adaptive_pools(model) == 2
    assert type(model[0]) is GraphAdaptiveAvgPool2d and type(model[2][0]) is GraphAdaptiveAvgPool2d
    assert type(model[1]) is torch.nn.AdaptiveAvgPool2d  # exports as GlobalAveragePool already
    for module, ref in zip((model[0], model[1], model[2]), expected):
        assert torch.equal(module(x), ref)
