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
  on feature pixels (e.g. 33 on 97). The bins at the border reach outside the map by half a bin,
  so the map is replicate-padded first (RoIAlign would otherwise average in zeros).

At (H, W) == (h, w) nothing is resampled: :meth:`pool` returns its input unchanged.
"""
import math
from typing import Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.ops import roi_align
from mmseg.models.utils import resize
from torch import Tensor


def parse_pooled_size(pooled_size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    """Return ``(h, w)`` from an int or a pair; raise ValueError for anything else."""
    if isinstance(pooled_size, int) and not isinstance(pooled_size, bool):
        pooled_size = (pooled_size, pooled_size)
    if (not isinstance(pooled_size, (tuple, list)) or len(pooled_size) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                       for s in pooled_size)):
        raise ValueError('pooled_size must be a positive int or a pair of two positive ints '
                         f'(h, w); got {pooled_size!r}')
    return int(pooled_size[0]), int(pooled_size[1])


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

    def extra_repr(self) -> str:
        return f'pooled_size={self.pooled_size}, align_corners={self.align_corners}'

    def _axis(self, length: int, pooled: int) -> Tuple[float, float, float]:
        """Box start, box end and bin width along one axis (in input pixels)."""
        if self.align_corners and pooled > 1:
            bin_size = (length - 1) / (pooled - 1)
            start = 0.5 - 0.5 * bin_size  # RoIAlign(aligned=True) shifts by -0.5
            return start, start + pooled * bin_size, bin_size
        return 0.0, float(length), length / pooled

    def pool(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, h, w); the input itself when (H, W) == (h, w).

        RoIAlign runs in fp32 (mmcv has no bf16 kernel) and the result is cast back.
        """
        height, width = x.shape[-2:]
        if (height, width) == self.pooled_size:
            return x
        (y1, y2, bin_h), (x1, x2, bin_w) = (self._axis(height, self.pooled_size[0]),
                                            self._axis(width, self.pooled_size[1]))
        source = x if x.dtype in (torch.float32, torch.float64) else x.float()
        pad = math.ceil(max(bin_h, bin_w) / 2) if self.align_corners else 0
        if pad:
            source = F.pad(source, (pad, pad, pad, pad), mode='replicate')
        batch = x.shape[0]
        rois = source.new_tensor([0.0, x1 + pad, y1 + pad, x2 + pad, y2 + pad]).repeat(batch, 1)
        rois[:, 0] = torch.arange(batch, dtype=rois.dtype, device=rois.device)
        # Fixed sampling (>= 1 point per bin and axis): the adaptive rule of RoIAlign
        # (ceil(bin)) gives 0 points for a degenerate 1-pixel axis.
        sampling = max(1, math.ceil(max(bin_h, bin_w)))
        with torch.autocast(device_type=x.device.type, enabled=False):
            pooled = roi_align(source.contiguous(), rois, self.pooled_size, 1.0, sampling,
                               'avg', True)
        return pooled.to(x.dtype)

    def unpool(self, gate: Tensor, size: Tuple[int, int]) -> Tensor:
        """Resize a (B, K, h, w) gate to (B, K, *size) bilinearly; identity at the pooled size."""
        if tuple(gate.shape[-2:]) == tuple(size):
            return gate
        return resize(gate, size=tuple(size), mode='bilinear',
                      align_corners=self.align_corners, warning=False)
