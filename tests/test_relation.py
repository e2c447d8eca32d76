"""The factored relation embedding against the straightforward R-stack-conv formulation."""
import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from mmseg_rga.models import relation as relation_mod
from mmseg_rga.models.relation import relation_costs, relation_embedding
from mmseg_rga.testing import reference_relation_embedding


def _inputs(batch, dim, nodes, out, seed=0):
    gen = torch.Generator().manual_seed(seed)
    theta = torch.relu(torch.randn(batch, dim, nodes, generator=gen)).requires_grad_()
    phi = torch.relu(torch.randn(batch, dim, nodes, generator=gen)).requires_grad_()
    weight = (torch.randn(out, 2 * nodes, generator=gen) / nodes).requires_grad_()
    return theta, phi, weight


def _rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


@pytest.mark.parametrize('force', ['factored', 'materialized', None])
@pytest.mark.parametrize('batch,dim,nodes,out', [
    (2, 8, 49, 6),      # spatial-like: few channels, 7x7 nodes
    (1, 16, 81, 10),    # batch 1, 9x9
    (2, 3, 64, 8),      # channel-like: C=64 nodes of 3-dim embeddings
    (3, 64, 4, 8),      # many dims, few nodes: the materialized order is cheaper
])
def test_matches_reference_outputs_and_grads(monkeypatch, force, batch, dim, nodes, out):
    if force == 'factored':
        monkeypatch.setattr(relation_mod, 'relation_costs', lambda *a: (0, 1))
    elif force == 'materialized':
        monkeypatch.setattr(relation_mod, 'relation_costs', lambda *a: (1, 0))
    theta, phi, weight = _inputs(batch, dim, nodes, out)
    fast = relation_embedding(theta, phi, weight)
    ref = reference_relation_embedding(theta, phi, weight)
    assert fast.shape == (batch, out, nodes)
    assert _rel_err(fast, ref) < 1e-5

    upstream = torch.randn_like(ref)
    grads_fast = torch.autograd.grad((fast * upstream).sum(), (theta, phi, weight))
    grads_ref = torch.autograd.grad((ref * upstream).sum(), (theta, phi, weight))
    for g_fast, g_ref in zip(grads_fast, grads_ref):
        assert _rel_err(g_fast, g_ref) < 1e-5


def test_picks_the_cheaper_order():
    # 97x97 spatial branch at C=2048: factoring avoids the 9409^2 relation matrix
    factored, materialized = relation_costs(9409, 256, 1176)
    assert factored * 10 < materialized
    # channel branch at C=2048, 97x97: nodes are channels, still cheaper factored
    factored, materialized = relation_costs(2048, 1176, 256)
    assert factored < materialized
    # many dims, few nodes: materializing R is cheaper
    factored, materialized = relation_costs(4, 64, 8)
    assert materialized < factored


class _ResultShapes(TorchDispatchMode):
    """Records the shape of every tensor an aten op returns (forward and backward)."""

    def __init__(self):
        super().__init__()
        self.shapes = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in (out if isinstance(out, (tuple, list)) else (out,)):
            if isinstance(t, torch.Tensor):
                self.shapes.append(tuple(t.shape))
        return out


@pytest.mark.parametrize('batch,dim,nodes,out,factored', [
    (2, 3, 64, 8, True),     # few dims, many nodes: factored, no (B, M, M) tensor
    (2, 8, 49, 6, True),
    (3, 64, 4, 8, False),    # many dims, few nodes: R (B, M, M) is materialized
    (2, 40, 6, 2, False),
])
def test_dispatch_follows_the_costs(batch, dim, nodes, out, factored):
    costs = relation_costs(nodes, dim, out)
    assert (costs[0] <= costs[1]) == factored
    theta, phi, weight = _inputs(batch, dim, nodes, out)
    with _ResultShapes() as seen:
        relation_embedding(theta, phi, weight).sum().backward()
    has_relation_matrix = (batch, nodes, nodes) in seen.shapes
    assert has_relation_matrix == (not factored), seen.shapes
    if factored:  # nothing of M x M size at all (R, its transpose or its 2M stack)
        assert max(math.prod(s) for s in seen.shapes) < nodes * nodes, seen.shapes


def test_the_row_comes_first():
    """W acting on the row only must see R(i, :), i.e. theta_i against every phi_j."""
    theta, phi, _ = _inputs(1, 4, 5, 1)
    weight = torch.zeros(1, 10)
    weight[0, 2] = 1.0  # picks R(i, 2) for every node i
    out = relation_embedding(theta.detach(), phi.detach(), weight)
    expected = (theta.detach()[0].T @ phi.detach()[0])[:, 2]
    torch.testing.assert_close(out[0, 0], expected)


def test_gradcheck_double():
    theta, phi, weight = (t.detach().double().requires_grad_() for t in _inputs(2, 3, 6, 2))
    assert torch.autograd.gradcheck(relation_embedding, (theta, phi, weight))


@pytest.mark.parametrize('theta_shape,phi_shape,weight_shape,match', [
    ((2, 4, 9), (2, 4, 8), (3, 18), 'theta and phi'),
    ((4, 9), (4, 9), (3, 18), 'theta and phi'),
    ((2, 4, 9), (2, 4, 9), (3, 9), r'\(K, 2M\)'),
])
def test_bad_shapes(theta_shape, phi_shape, weight_shape, match):
    with pytest.raises(ValueError, match=match):
        relation_embedding(torch.zeros(theta_shape), torch.zeros(phi_shape),
                           torch.zeros(weight_shape))


def test_reference_matches_in_double_precision():
    """The reference (what the benchmark measures against) and the fast path agree in fp64."""
    theta = torch.randn(2, 3, 7, dtype=torch.float64)
    phi = torch.randn(2, 3, 7, dtype=torch.float64)
    weight = torch.randn(4, 14, dtype=torch.float64)
    torch.testing.assert_close(reference_relation_embedding(theta, phi, weight),
                               relation_embedding(theta, phi, weight))
