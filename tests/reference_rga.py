"""Straightforward references for the RGA math, used by the tests and the benchmark.

* :func:`reference_relation_embedding` materializes R (M x M), stacks [R(i,:), R(:,i)] into a
  2M-channel map and applies the 1x1 conv, exactly as the paper describes it.
* :class:`OfficialRGAModule` (from :mod:`mmseg_rga.models.official_rga`, where the benchmark
  finds it too) is the official re-id ``RGA_Module`` with its layer names, shapes and forward.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmseg_rga.models.official_rga import OfficialRGAModule  # noqa: F401  (re-exported)


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
