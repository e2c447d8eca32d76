"""FixedSizePool's RoIAlign matrices built inside an exported graph, from the runtime size.

While ONNX export traces a model, the input height and width are values of the graph: 0-d tensors
under torch.onnx's TorchScript tracer, SymInts under torch.export. :func:`graph_matrices` builds
A_h (h, H) and A_w (w, W) from such values with tensor ops, so one exported file pools every
input size; a Python int or float taken from the size (``int()``, ``math.ceil``, ``.tolist()``)
would freeze the export-time size into the graph as a constant.

It is :func:`~.fixed_size.roi_align_matrix` on the box of :meth:`FixedSizePool._axis`, step for
step and in the same dtypes (the box in float64, the sampling points in the coordinate dtype,
the weights in float64), so that it gives the same matrices bit for bit: the integer parts (the
sampling grid, the replicate padding) are ceil divisions of the size (``math.ceil`` of the same
quotient), the box ends are float64 tensors (the same IEEE operations as Python's floats).
"""
from typing import Tuple, Union

import torch
from torch import Tensor

#: a size as the graph holds it: an int (eager), a SymInt (torch.export) or a 0-d int tensor
#: (TorchScript tracing)
SizeLike = Union[int, Tensor, 'torch.SymInt']


def _tensor(value: SizeLike, dtype: torch.dtype) -> Tensor:
    """A 0-d tensor of ``dtype`` holding ``value`` (traced, not read, when it is a graph value)."""
    if isinstance(value, Tensor):
        return value.to(dtype)
    return torch.scalar_tensor(value, dtype=dtype)


def _max(a: SizeLike, b: SizeLike) -> SizeLike:
    """max(a, b) without reading a graph value in Python (which would freeze it)."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return torch.maximum(_tensor(a, torch.int64), _tensor(b, torch.int64))
    return torch.sym_max(a, b) if hasattr(torch, 'sym_max') else max(a, b)


def _ceil_div(a: SizeLike, b: int) -> SizeLike:
    """ceil(a / b) for a >= 0 and an int b > 0, in a's type."""
    return (a + (b - 1)) // b


def _grid(length: SizeLike, pooled: int, align_corners: bool) -> Tuple[SizeLike, SizeLike]:
    """ceil(bin) and ceil(bin / 2) along one axis (bin: FixedSizePool._axis's bin width)."""
    if align_corners and pooled > 1:  # bin = (L - 1) / (pooled - 1)
        return _ceil_div(length - 1, pooled - 1), _ceil_div(length - 1, 2 * (pooled - 1))
    return _ceil_div(length, pooled), _ceil_div(length, 2 * pooled)  # bin = L / pooled


def _box(length: SizeLike, pooled: int, align_corners: bool) -> Tuple[Tensor, Tensor]:
    """FixedSizePool._axis's box start and end as float64 tensors."""
    size = _tensor(length, torch.float64)
    if align_corners and pooled > 1:
        bin_size = (size - 1) / (pooled - 1)
        start = 0.5 - 0.5 * bin_size
        return start, start + pooled * bin_size
    return torch.zeros((), dtype=torch.float64), size


def graph_axis_matrix(length: SizeLike, pooled: int, align_corners: bool, pad: SizeLike,
                      sampling: SizeLike, coord_dtype: torch.dtype = torch.float32) -> Tensor:
    """:func:`~.fixed_size.roi_align_matrix` of one axis, (pooled, length) float64, with the
    size, the padding and the sampling count as graph values."""
    start, end = _box(length, pooled, align_corners)
    pad_value = _tensor(pad, torch.float64)
    first = (start + pad_value).to(coord_dtype) - 0.5
    bin_size = ((end + pad_value).to(coord_dtype) - 0.5 - first) / pooled
    padded = _tensor(length + 2 * pad, coord_dtype)
    bins = torch.arange(pooled, dtype=coord_dtype).view(-1, 1)
    offsets = torch.arange(sampling, dtype=coord_dtype).view(1, -1) + 0.5
    y = first + bins * bin_size + offsets * bin_size / _tensor(sampling, coord_dtype)
    valid = (y >= -1.0) & (y <= padded)
    y = y.clamp(min=0)
    low = y.floor()
    last = low >= padded - 1  # at or past the last pixel: all weight on it
    low = torch.minimum(low, padded - 1)
    y = torch.where(last, low, y)
    high = torch.where(last, low, low + 1)
    frac = y - low
    keep, frac = (1 - frac).double(), frac.double()
    columns = torch.arange(length).view(1, 1, -1)
    shift, top = _tensor(pad, torch.int64), _tensor(length - 1, torch.int64)

    def fold(index: Tensor) -> Tensor:  # padded pixel -> unpadded pixel (replicate padding)
        return torch.minimum((index.long() - shift).clamp(min=0), top).unsqueeze(-1)

    weights = (keep.unsqueeze(-1) * (fold(low) == columns)
               + frac.unsqueeze(-1) * (fold(high) == columns))  # (pooled, sampling, length)
    return (weights * valid.unsqueeze(-1)).sum(1) / _tensor(sampling, torch.float64)


def graph_matrices(height: SizeLike, width: SizeLike, pooled_size: Tuple[int, int],
                   align_corners: bool, dtype: torch.dtype = torch.float32,
                   device: Union[str, torch.device] = 'cpu') -> Tuple[Tensor, Tensor]:
    """A_h (h, H) and A_w (w, W) of ``FixedSizePool(pooled_size, align_corners).matrices(H, W,
    dtype)``, built from H and W as graph values (one pad and one sampling grid for both axes:
    the box is one RoI)."""
    (ceil_h, half_h), (ceil_w, half_w) = (_grid(height, pooled_size[0], align_corners),
                                          _grid(width, pooled_size[1], align_corners))
    sampling = _max(_max(ceil_h, ceil_w), 1)
    pad = _max(half_h, half_w) if align_corners else 0
    coords = torch.float64 if dtype == torch.float64 else torch.float32
    return tuple(graph_axis_matrix(length, pooled, align_corners, pad, sampling, coords).to(
        device=device, dtype=dtype) for length, pooled in ((height, pooled_size[0]),
                                                          (width, pooled_size[1])))
