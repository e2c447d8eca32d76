"""FixedSizePool's kernel-free RoIAlign against mmcv's ``roi_align`` kernel (the reference).

The reference is the pooling as it was computed before the matrices: mmcv's RoIAlign
(aligned=True, avg, one fixed sampling grid) over one whole-map box, on the map replicate-padded
for ``align_corners=True``.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from mmseg_rga.models.fixed_size import FixedSizePool

roi_align = pytest.importorskip('mmcv.ops').roi_align

SIZES = [(1, 1), (1, 5), (2, 2), (3, 2), (5, 7), (9, 9), (16, 9), (33, 33), (97, 97),
         (40, 25), (129, 257)]
POOLED = [(1, 1), (3, 3), (5, 9), (33, 33), (12, 4)]


def mmcv_pool(pool: FixedSizePool, x: torch.Tensor) -> torch.Tensor:
    """mmcv's roi_align kernel with the same box, replicate padding and sampling grid."""
    height, width = x.shape[-2:]
    (y1, y2, bin_h), (x1, x2, bin_w) = (pool._axis(height, pool.pooled_size[0]),
                                        pool._axis(width, pool.pooled_size[1]))
    pad = math.ceil(max(bin_h, bin_w) / 2) if pool.align_corners else 0
    source = F.pad(x, (pad,) * 4, mode='replicate') if pad else x
    batch = x.shape[0]
    rois = source.new_tensor([0.0, x1 + pad, y1 + pad, x2 + pad, y2 + pad]).repeat(batch, 1)
    rois[:, 0] = torch.arange(batch, dtype=rois.dtype)
    sampling = max(1, math.ceil(max(bin_h, bin_w)))
    return roi_align(source.contiguous(), rois, pool.pooled_size, 1.0, sampling, 'avg', True)


def _value_and_grad(fn, x, upstream):
    x = x.detach().clone().requires_grad_()
    out = fn(x)
    out.backward(upstream.to(out.dtype))
    return out.detach(), x.grad


def _check(pool, size, batch=2, channels=3, seed=0):
    """fp64: the kernel's arithmetic, to rounding. fp32: within 1e-6 of the fp32 kernel where
    the kernel itself is that accurate; the kernel's own fp32 error (against its fp64 result)
    reaches 1e-5 where a bin or a gradient sums thousands of samples, and there the matrices
    must be at least as close to the fp64 kernel as the fp32 kernel is (up to 1e-6)."""
    torch.manual_seed(seed)
    x = torch.randn(batch, channels, *size, dtype=torch.float64)
    upstream = torch.randn(batch, channels, *pool.pooled_size, dtype=torch.float64)
    exact = _value_and_grad(lambda t: mmcv_pool(pool, t), x, upstream)
    for ours, ref in zip(_value_and_grad(pool.pool, x, upstream), exact):
        torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)
    x = x.float()
    kernel = _value_and_grad(lambda t: mmcv_pool(pool, t), x, upstream)
    for ours, ref, ref64 in zip(_value_and_grad(pool.pool, x, upstream), kernel, exact):
        assert ours.dtype == torch.float32
        kernel_error = (ref.double() - ref64).abs().max().item()
        if kernel_error <= 1e-6:
            torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)
        assert (ours.double() - ref64).abs().max().item() <= kernel_error + 1e-6


@pytest.mark.parametrize('align_corners', [False, True])
@pytest.mark.parametrize('pooled', POOLED)
@pytest.mark.parametrize('size', SIZES)
def test_equals_mmcv_roi_align(align_corners, pooled, size):
    if size == pooled:
        pytest.skip('identity at the pooled size (tests/test_rga.py)')
    _check(FixedSizePool(pooled, align_corners), size)


@pytest.mark.parametrize('align_corners', [False, True])
@pytest.mark.parametrize('pooled,size', [((33, 33), (97, 97)), ((33, 33), (129, 257)),
                                         ((97, 97), (129, 257)), ((97, 97), (33, 33)),
                                         ((9, 9), (4, 2)), ((25, 7), (3, 11))])
def test_cityscapes_geometries_and_upsampling(align_corners, pooled, size):
    """The 769-crop / whole-image geometries, and pooled sizes larger than the input."""
    _check(FixedSizePool(pooled, align_corners), size, batch=1, channels=2)


def test_matrices_are_cached_per_shape_dtype_device_and_bounded():
    pool = FixedSizePool((3, 3))
    first = pool.matrices(7, 9)
    assert pool.matrices(7, 9)[0] is first[0]
    assert pool.matrices(7, 9, torch.float64)[0].dtype == torch.float64
    for height in range(10, 30):
        pool.matrices(height, 5)
    assert len(pool._matrices) <= 8
    assert not any('matri' in key for key in pool.state_dict())


@pytest.mark.parametrize('align_corners', [False, True])
def test_rows_average_to_one_inside_the_map(align_corners):
    """Each bin's weights sum to 1 (a constant map stays constant), border bins included."""
    pool = FixedSizePool((5, 9), align_corners)
    rows, cols = pool.matrices(13, 40, torch.float64)
    torch.testing.assert_close(rows.sum(1), torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(cols.sum(1), torch.ones(9, dtype=torch.float64))


def test_double_precision_and_gradcheck():
    pool = FixedSizePool((4, 3), align_corners=True)
    x = torch.randn(1, 2, 7, 10, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(pool.pool(x), mmcv_pool(pool, x), rtol=0, atol=1e-12)
    assert torch.autograd.gradcheck(pool.pool, (x,))


def test_pooling_does_not_need_mmcv():
    import ast
    from pathlib import Path
    source = Path(__file__).resolve().parents[1] / 'mmseg_rga' / 'models' / 'fixed_size.py'
    imports = [node for node in ast.walk(ast.parse(source.read_text()))
               if isinstance(node, (ast.Import, ast.ImportFrom))]
    names = [n.name for node in imports for n in node.names] + [
        node.module or '' for node in imports if isinstance(node, ast.ImportFrom)]
    assert not any(name.startswith('mmcv') for name in names), names
