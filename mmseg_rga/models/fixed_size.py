"""Pool any feature map to a fixed size with RoIAlign, and resize a gate back.

RGA's relation layers have widths that depend on the number of nodes N = h*w, so they only accept
the (h, w) they were built for. Following the paper (§4.2, "Discussion") every input (H, W) is
pooled to (h, w) with RoIAlign over one box that covers the whole map; the spatial gate computed at
(h, w) is resized back to (H, W) bilinearly. The box geometry matches the resize geometry:

* ``align_corners=False``: the box is the whole map [0, W] x [0, H]; pooled node k is the average
  over the k-th of w equal bins, centred at (k + 0.5) * W / w - 0.5, which is where
  ``F.interpolate(..., align_corners=False)`` puts it back.
* ``align_corners=True``: pooled node k is centred on pixel k * (W - 1) / (w - 1), where
  ``align_corners=True`` resizing puts it back; with (w - 1) dividing (W - 1) the nodes sit exactly
  on feature pixels (e.g. 33 on 97). The bins at the border reach outside the map by half a bin;
  they read the border pixels (replicate padding), not zeros.

No custom kernel: for one whole-map box and a fixed sampling grid RoIAlign is separable,
``pooled = A_h · x · A_wᵀ`` with A_h (h, H) and A_w (w, W) holding each bin's averaged bilinear
sampling weights (:func:`roi_align_matrix`, the arithmetic of mmcv's ``roi_align(aligned=True,
pool_mode='avg')`` kernel, its boundary rules included; replicate padding folded in as index
clamping). Two matmuls: plain autograd, any dtype (bf16 under autocast), visible to torch.export,
torch.compile and ONNX. At (H, W) == (h, w) nothing is resampled: :meth:`pool` returns its input.

While ONNX export traces the block the matrices are built inside the graph from the runtime
size (:mod:`.fixed_size_graph`, the same matrices bit for bit), so one exported file takes every
input size; eager and compiled PyTorch use the cached matrices.
"""
import math
from collections import OrderedDict
from typing import Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmseg.models.utils import resize
from torch import Tensor

from ..checks import InputError
from ..compat import in_export_trace, is_compiling
from .fixed_size_graph import graph_matrices

#: Pooling matrices kept per FixedSizePool, per (H, W, dtype, device) (least recently used out).
MATRIX_CACHE_SIZE = 8


def parse_pooled_size(pooled_size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    """Return ``(h, w)`` from an int or a pair; raise ValueError for anything else."""
    if isinstance(pooled_size, int) and not isinstance(pooled_size, bool):
        pooled_size = (pooled_size, pooled_size)
    if (not isinstance(pooled_size, (tuple, list)) or len(pooled_size) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                       for s in pooled_size)):
        raise InputError('pooled_size must be a positive int or a pair of two positive ints '
                         f'(h, w); got {pooled_size!r}')
    return int(pooled_size[0]), int(pooled_size[1])


def roi_align_matrix(length: int, pooled: int, start: float, end: float, pad: int,
                     sampling: int, coord_dtype: torch.dtype = torch.float32) -> Tensor:
    """RoIAlign along one axis as a (pooled, length) float64 matrix.

    Follows mmcv's CPU/CUDA ``roi_align`` (aligned=True, avg) on the map replicate-padded by
    ``pad`` pixels on both sides, with the box [start, end] given in unpadded pixels: bin k
    averages ``sampling`` points start' + k*bin + (i + 0.5)*bin/sampling (start' = start + pad -
    0.5, bin = (end - start) / pooled), computed in ``coord_dtype`` like the kernel. A point
    outside [-1, L] contributes 0; else it is clamped to [0, L - 1] and split bilinearly between
    its two neighbours. Padded pixel j is unpadded pixel clamp(j - pad, 0, length - 1).
    """
    padded = length + 2 * pad
    box = torch.tensor([start + pad, end + pad], dtype=coord_dtype) - 0.5
    bin_size = (box[1] - box[0]) / pooled
    bins = torch.arange(pooled, dtype=coord_dtype).view(-1, 1)
    offsets = torch.arange(sampling, dtype=coord_dtype).view(1, -1) + 0.5
    y = box[0] + bins * bin_size + offsets * bin_size / sampling  # (pooled, sampling)
    valid = (y >= -1.0) & (y <= padded)
    y = y.clamp(min=0)
    low = y.floor()
    last = low >= padded - 1  # at or past the last pixel: all weight on it
    low = low.clamp(max=padded - 1)
    y = torch.where(last, low, y)
    high = torch.where(last, low, low + 1)
    frac = y - low
    keep = (1 - frac).double()
    frac = frac.double()
    columns = torch.arange(length).view(1, 1, -1)
    fold = lambda idx: (idx.long() - pad).clamp(0, length - 1).unsqueeze(-1)  # noqa: E731
    weights = (keep.unsqueeze(-1) * (fold(low) == columns)
               + frac.unsqueeze(-1) * (fold(high) == columns))  # (pooled, sampling, length)
    return (weights * valid.unsqueeze(-1)).sum(1) / sampling


class FixedSizePool(nn.Module):
    """RoIAlign a (B, C, H, W) map to (B, C, h, w) and resize (B, *, h, w) gates back.

    Args:
        pooled_size: (h, w), or one int for a square.
        align_corners: geometry of pooling and resizing (see the module docstring).
    """

    def __init__(self, pooled_size: Union[int, Sequence[int]], align_corners: bool = False):
        super().__init__()
        self.pooled_size = parse_pooled_size(pooled_size)
        self.align_corners = bool(align_corners)
        self._matrices: 'OrderedDict[tuple, Tuple[Tensor, Tensor]]' = OrderedDict()

    def extra_repr(self) -> str:
        return f'pooled_size={self.pooled_size}, align_corners={self.align_corners}'

    def _axis(self, length: int, pooled: int) -> Tuple[float, float, float]:
        """Box start, box end and bin width along one axis (in input pixels)."""
        if self.align_corners and pooled > 1:
            bin_size = (length - 1) / (pooled - 1)
            start = 0.5 - 0.5 * bin_size  # RoIAlign(aligned=True) shifts by -0.5
            return start, start + pooled * bin_size, bin_size
        return 0.0, float(length), length / pooled

    def matrices(self, height: int, width: int, dtype: torch.dtype = torch.float32,
                 device: Union[str, torch.device] = 'cpu') -> Tuple[Tensor, Tensor]:
        """A_h (h, H) and A_w (w, W) with pool(x) = A_h · x · A_wᵀ, cached per (H, W, dtype,
        device) while not tracing."""
        key = (height, width, dtype, torch.device(device))
        tracing = is_compiling()
        if not tracing and key in self._matrices:
            self._matrices.move_to_end(key)
            return self._matrices[key]
        (y1, y2, bin_h), (x1, x2, bin_w) = (self._axis(height, self.pooled_size[0]),
                                            self._axis(width, self.pooled_size[1]))
        # one pad and one sampling grid for both axes, as the box is one RoI; >= 1 point per
        # bin (RoIAlign's adaptive ceil(bin) gives 0 points for a degenerate 1-pixel axis)
        pad = math.ceil(max(bin_h, bin_w) / 2) if self.align_corners else 0
        sampling = max(1, math.ceil(max(bin_h, bin_w)))
        coords = torch.float64 if dtype == torch.float64 else torch.float32
        pair = tuple(roi_align_matrix(length, pooled, start, end, pad, sampling, coords).to(
            device=device, dtype=dtype) for length, pooled, start, end in (
                (height, self.pooled_size[0], y1, y2), (width, self.pooled_size[1], x1, x2)))
        if not tracing and all(type(m) is Tensor for m in pair):
            self._matrices[key] = pair
            while len(self._matrices) > MATRIX_CACHE_SIZE:
                self._matrices.popitem(last=False)
        return pair

    def pool(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, h, w) in x's dtype; the input itself when (H, W) == (h, w).

        Under ONNX export the matrices are computed in the graph from x's runtime size (and
        applied at every size, the pooled one included: the graph holds no branch on it)."""
        height, width = x.shape[-2:]
        if in_export_trace():
            rows, cols = graph_matrices(height, width, self.pooled_size, self.align_corners,
                                        x.dtype, x.device)
            return torch.matmul(torch.matmul(rows, x), cols.t())
        if (height, width) == self.pooled_size:
            return x
        rows, cols = self.matrices(height, width, x.dtype, x.device)
        (h, w) = self.pooled_size
        if height * w * (width + h) <= h * width * (height + w):  # cheaper multiply order
            return torch.matmul(rows, torch.matmul(x, cols.t()))
        return torch.matmul(torch.matmul(rows, x), cols.t())

    def unpool(self, gate: Tensor, size: Tuple[int, int]) -> Tensor:
        """Resize a (B, K, h, w) gate to (B, K, *size) bilinearly; identity at the pooled size
        (under ONNX export ``size`` is the runtime size: always resized, an identity there)."""
        if not in_export_trace() and tuple(gate.shape[-2:]) == tuple(size):
            return gate
        return resize(gate, size=tuple(size), mode='bilinear',
                      align_corners=self.align_corners, warning=False)
