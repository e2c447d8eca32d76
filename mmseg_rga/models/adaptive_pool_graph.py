"""Adaptive average pooling that an exported graph computes from the runtime size.

torch.onnx's TorchScript exporter writes ``adaptive_avg_pool2d`` to an output other than 1x1
only as a fixed-kernel ``AveragePool``, and only when the export-time size is a multiple of the
output size (mmseg's PSP pyramid pools to 1, 2, 3 and 6 bins): no dynamic export, and most fixed
sizes fail. Adaptive average pooling is separable, ``pooled = A_h · x · A_wᵀ``, where row i of
A (out, L) averages input pixels ``floor(i L / out)`` to ``ceil((i + 1) L / out) - 1`` (torch's
bins). :class:`GraphAdaptiveAvgPool2d` builds A_h and A_w from the traced size while ONNX export
traces it and calls torch's kernel otherwise; :func:`use_graph_adaptive_pools` swaps it in for
every ``nn.AdaptiveAvgPool2d`` of a model whose output is not 1x1 (1x1 exports as
``GlobalAveragePool`` already).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..compat import in_export_trace


def adaptive_avg_matrix(length, pooled: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """(pooled, length) averaging matrix of torch's adaptive average pooling along one axis;
    ``length`` may be an int or a graph value (a 0-d tensor when traced, a SymInt)."""
    bins = torch.arange(pooled)
    start = (bins * length) // pooled
    end = ((bins + 1) * length + (pooled - 1)) // pooled
    columns = torch.arange(length).view(1, -1)
    inside = (columns >= start.view(-1, 1)) & (columns < end.view(-1, 1))
    return inside.to(dtype) / (end - start).view(-1, 1).to(dtype)


class GraphAdaptiveAvgPool2d(nn.AdaptiveAvgPool2d):
    """``nn.AdaptiveAvgPool2d`` (int output sizes) that exports as two matmuls built from the
    runtime size; torch's kernel outside ONNX export."""

    def forward(self, x: Tensor) -> Tensor:
        if not in_export_trace():
            return F.adaptive_avg_pool2d(x, self.output_size)
        out_h, out_w = _pair(self.output_size)
        rows = adaptive_avg_matrix(x.shape[-2], out_h, x.dtype).to(x.device)
        cols = adaptive_avg_matrix(x.shape[-1], out_w, x.dtype).to(x.device)
        return torch.matmul(torch.matmul(rows, x), cols.t())


def _pair(size):
    return (size, size) if isinstance(size, int) else tuple(size)


def use_graph_adaptive_pools(model: nn.Module) -> int:
    """Replace, in place, every ``nn.AdaptiveAvgPool2d`` of ``model`` with int output sizes
    other than 1x1 by :class:`GraphAdaptiveAvgPool2d`; returns how many were replaced."""
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is not nn.AdaptiveAvgPool2d:
                continue
            size = _pair(child.output_size)
            if all(isinstance(s, int) for s in size) and size != (1, 1):
                setattr(parent, name, GraphAdaptiveAvgPool2d(child.output_size))
                replaced += 1
    return replaced
