"""FLOPs of a model with RGA blocks: mmengine's counter plus what it cannot count right.

mmengine's :class:`~mmengine.analysis.FlopAnalyzer` (the counter behind
``get_model_complexity_info``; 1 FLOP = 1 multiply-add) traces the model and counts convs, norms,
resizes and matmuls. Inside an :class:`~mmseg_rga.models.RGABlock` it miscounts: the pooling
``A_h · x · A_wᵀ`` broadcasts A_h over (B, C), which its matmul rule does not multiply in, and
the relation path ends in ``baddbmm``, which it has no rule for. So, per block, the matmul-like
ops it saw are replaced by the exact analytic count of :func:`rga_block_flops`:

* pooling (H, W) -> (h, w), C channels: C · min(H·w·(W + h), h·W·(H + w)) (the order
  :meth:`FixedSizePool.pool` takes), 0 at the native size; once per pooled input;
* relation embedding of each branch with M nodes, d-dim embeddings, K outputs: the cheaper of
  4·K·M·d (factored) and M²·d + 2·K·M² (materialized), :func:`relation_costs`.

Convs, norms and the gate resize stay mmengine's. Counted under ``torch.no_grad`` so the relation
runs as plain ops.
"""
from typing import Dict, Sequence

import torch
import torch.nn as nn

from ..models.relation import relation_costs
from ..models.rga import RGABlock

#: mmengine operator names that, inside an RGA block, are the pooling or the relation path.
MATMUL_OPS = ('matmul', 'mm', 'bmm', 'baddbmm', 'addmm', 'linear', 'einsum')


def pooling_flops(channels: int, size: Sequence[int], pooled: Sequence[int]) -> int:
    """Multiply-adds of one FixedSizePool.pool of a (1, C, H, W) map."""
    (height, width), (h, w) = tuple(size), tuple(pooled)
    if (height, width) == (h, w):
        return 0
    return channels * min(height * w * (width + h), h * width * (height + w))


def rga_block_flops(block: RGABlock, size: Sequence[int]) -> Dict[str, int]:
    """Pooling and relation multiply-adds of one sample through ``block`` at input (H, W)."""
    pools = {'S': 1, 'C': 1, 'parallel': 1, 'SC': 2, 'CS': 1}[block.order]
    counts = dict(pooling=pools * pooling_flops(block.in_channels, size, block.pooled_size),
                  relation=0)
    for branch in (block.spatial, block.channel):
        if branch is not None and branch.use_relation:
            relation = branch.relation
            counts['relation'] += min(relation_costs(
                relation.num_nodes, branch.theta.conv.out_channels, relation.weight.shape[0]))
    return counts


def count_flops(model: nn.Module, inputs: torch.Tensor) -> Dict[str, int]:
    """FLOPs (multiply-adds) and parameters of ``model(inputs)``, RGA blocks counted exactly.

    Returns:
        dict: ``flops`` (total), ``relation`` and ``pooling`` (their parts of it),
        ``mmengine`` (mmengine's raw total), ``params`` and ``blocks`` ({module name: input
        shape} of every RGA block).
    """
    from mmengine.analysis import FlopAnalyzer, parameter_count

    sizes = {}

    def record(block, args):  # the input shape of each block's first call
        sizes.setdefault(block, tuple(int(side) for side in args[0].shape))

    handles = [m.register_forward_pre_hook(record) for m in model.modules()
               if isinstance(m, RGABlock)]
    try:
        with torch.no_grad():
            analyzer = FlopAnalyzer(model, (inputs, ))
            analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            analyzer.tracer_warnings('none')
            raw = analyzer.total()
            by_module = analyzer.by_module_and_operator()
    finally:
        for handle in handles:
            handle.remove()
    names = {m: name for name, m in model.named_modules()}
    counts = dict(mmengine=raw, relation=0, pooling=0, params=parameter_count(model)[''])
    seen = 0
    for block, shape in sizes.items():
        seen += sum(by_module[names[block]].get(op, 0) for op in MATMUL_OPS)
        for part, value in rga_block_flops(block, shape[-2:]).items():
            counts[part] += shape[0] * value
    counts['flops'] = raw - seen + counts['relation'] + counts['pooling']
    counts['blocks'] = {names[block]: shape for block, shape in sizes.items()}
    return counts


def sweep_pooled(model: nn.Module, counts: Dict, pooled_sizes: Sequence[int]) -> Dict[int, Dict]:
    """Model counts for other node counts S (pooled S x S), from one count of the model.

    Only the RGA blocks depend on S, so each is rebuilt at S x S from its own arguments
    (:meth:`RGABlock.rebuilt`) and counted alone at its recorded input shape:
    total(S) = total - blocks(as built) + blocks(S), for FLOPs and parameters alike. Works
    wherever the blocks sit (RGA heads, RGANeck, a bare block).

    Args:
        model: the counted model.
        counts: :func:`count_flops` of ``model``.
    """
    modules = dict(model.named_modules())
    rows = {}
    for size in pooled_sizes:
        row = {key: counts[key] for key in ('flops', 'relation', 'pooling', 'params')}
        for name, shape in counts['blocks'].items():
            old = modules[name]
            new = old.rebuilt(pooled_size=size).eval()
            for block, sign in ((old, -1), (new, 1)):
                part = count_flops(block, torch.zeros(shape))
                for key in row:
                    row[key] += sign * part[key]
        rows[size] = row
    return rows
