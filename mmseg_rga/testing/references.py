"""Straightforward references for the RGA math, used by the tests and the benchmark.

* :func:`reference_relation_embedding` materializes R (M x M), stacks [R(i,:), R(:,i)] into a
  2M-channel map and applies the 1x1 conv, exactly as the paper describes it (O(M^2) memory):
  the baseline ``tools/analysis_tools/benchmark_relation.py`` measures the factored path against.
* :func:`randomize_bn_stats` gives BatchNorms non-trivial statistics for equivalence tests.
* :func:`reference_fixed_size_pool` is the whole-map RoIAlign of ``FixedSizePool`` written from
  its definition (bilinear samples per bin, clamped to the map), independent of mmcv.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def reference_relation_embedding(theta: Tensor, phi: Tensor, weight: Tensor) -> Tensor:
    """theta, phi (B, d, M), weight (K, 2M) -> (B, K, M) via R, its stack and a 1x1 conv."""
    b, _, m = theta.shape
    relation = torch.matmul(theta.transpose(1, 2), phi)  # (B, M, M), R(i, j)
    # channel j at position i: R(i, j) for the first M channels, R(j, i) for the last M
    stacked = torch.cat([relation.transpose(1, 2), relation], dim=1)  # (B, 2M, M)
    out = F.conv2d(stacked.unsqueeze(-1), weight.reshape(weight.shape[0], 2 * m, 1, 1))
    return out.squeeze(-1)


def randomize_bn_stats(module: nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial affine parameters and running statistics."""
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.weight.data = 0.5 + torch.rand(n, generator=gen)
            m.bias.data = 0.2 * torch.randn(n, generator=gen)
            m.running_mean.data = 0.2 * torch.randn(n, generator=gen)
            m.running_var.data = 0.5 + torch.rand(n, generator=gen)


def _clamped_bilinear(x: Tensor, ys: Tensor, xs: Tensor) -> Tensor:
    """Bilinear samples of x (B, C, H, W) at every (ys[i], xs[j]), positions clamped to the map.

    Returns (B, C, len(ys), len(xs)). Clamping to [0, L - 1] is what replicate padding gives.
    """
    height, width = x.shape[-2:]
    ys, xs = ys.clamp(0, height - 1), xs.clamp(0, width - 1)
    y0, x0 = ys.floor().long(), xs.floor().long()
    y1, x1 = (y0 + 1).clamp(max=height - 1), (x0 + 1).clamp(max=width - 1)
    wy, wx = (ys - y0).view(-1, 1), (xs - x0).view(1, -1)
    rows0, rows1 = x[..., y0, :], x[..., y1, :]
    top = rows0[..., x0] * (1 - wx) + rows0[..., x1] * wx
    bottom = rows1[..., x0] * (1 - wx) + rows1[..., x1] * wx
    return top * (1 - wy) + bottom * wy


def reference_fixed_size_pool(x: Tensor, pooled_size, align_corners: bool) -> Tensor:
    """RGA's whole-map RoIAlign (B, C, H, W) -> (B, C, h, w), from its definition, sample by sample.

    Node k of an axis of length L pooled to l averages s bilinear samples (s x s per node):
    ``align_corners=False``: bin = L / l, samples at (k + (i + 0.5) / s) * bin - 0.5 (pixel centres
    at integers), i.e. the k-th of l equal bins of [0, L]; ``align_corners=True`` (l > 1):
    bin = (L - 1) / (l - 1), samples at (k - 0.5 + (i + 0.5) / s) * bin, a bin centred on pixel
    k * bin. Positions outside the map are clamped to it (replicate padding). s = max(1,
    ceil(max(bin_h, bin_w))), the same on both axes (fixed_size.py's sampling ratio).
    """
    x = x.double()
    (height, width), (out_h, out_w) = x.shape[-2:], pooled_size

    def bin_size(length, pooled):
        return (length - 1) / (pooled - 1) if align_corners and pooled > 1 else length / pooled

    bins = bin_size(height, out_h), bin_size(width, out_w)
    s = max(1, math.ceil(max(bins)))

    def positions(length, pooled, size):
        offsets = (torch.arange(s, dtype=torch.float64) + 0.5) / s  # within a bin, in bins
        k = torch.arange(pooled, dtype=torch.float64).view(-1, 1)
        if align_corners and pooled > 1:
            return ((k - 0.5 + offsets) * size).flatten()
        return ((k + offsets) * size - 0.5).flatten()

    samples = _clamped_bilinear(x, positions(height, out_h, bins[0]),
                                positions(width, out_w, bins[1]))  # (B, C, h*s, w*s)
    b, c = x.shape[:2]
    return samples.view(b, c, out_h, s, out_w, s).mean(dim=(3, 5))
