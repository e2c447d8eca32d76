"""The relation embedding of RGA, computed without the (N x N) relation matrix.

For M graph nodes with d-dim embeddings theta, phi (B, d, M) the relation matrix is
R = theta^T phi (M x M), R(i, j) = theta_i . phi_j, and node i is described by its relation vector
r_i = [R(i, :), R(:, i)] (2M values, its row first, then its column). RGA embeds r_i with a
bias-free 1x1 conv W = [W_row | W_col] (K x 2M):

    W r_i = W_row R(i, :)^T + W_col R(:, i)
    =>  E = W_row R^T + W_col R = (W_row phi^T) theta + (W_col theta^T) phi        (K x M)

The right-hand side costs 4*K*M*d multiply-adds and O(K*d + K*M) memory, against M^2*d + 2*K*M^2
and O(M^2) for materializing R (and 2*M^2 for its stacked form). :func:`relation_embedding`
picks the cheaper order from the shapes. No mmseg import here: this is the math only.
"""
from typing import Tuple

import torch
from torch import Tensor

from ..checks import InputError
from ..compat import is_compiling


def relation_costs(num_nodes: int, embed_dim: int, out_dim: int) -> Tuple[int, int]:
    """Multiply-adds of the factored and the materialized orders (per sample).

    Returns:
        (factored, materialized): 4*K*M*d and M^2*d + 2*K*M^2.
    """
    m, d, k = num_nodes, embed_dim, out_dim
    return 4 * k * m * d, m * m * d + 2 * k * m * m


def relation_embedding(theta: Tensor, phi: Tensor, weight: Tensor) -> Tensor:
    """Embed every node's relation vector [R(i,:), R(:,i)] with a linear map.

    Args:
        theta: (B, d, M) embeddings of the M nodes (left factor of R).
        phi: (B, d, M) embeddings of the M nodes (right factor of R).
        weight: (K, 2M) weight of the bias-free 1x1 conv over relation vectors; its first M
            columns act on the row R(i, :), the last M on the column R(:, i).

    Returns:
        (B, K, M): W [R(i,:), R(:,i)] for every node i, in the dtype of ``theta``.
    """
    if theta.shape != phi.shape or theta.dim() != 3:
        raise InputError(f'theta and phi must both be (B, d, M); got {tuple(theta.shape)} '
                         f'and {tuple(phi.shape)}')
    num_nodes = theta.shape[-1]
    if weight.dim() != 2 or weight.shape[1] != 2 * num_nodes:
        raise InputError(f'weight must be (K, 2M) = (K, {2 * num_nodes}) for M={num_nodes} '
                         f'nodes; got {tuple(weight.shape)}')
    factored, materialized = relation_costs(num_nodes, theta.shape[1], weight.shape[0])
    if factored <= materialized:
        if _needs_custom_backward(theta, phi, weight):
            return _FactoredRelation.apply(theta, phi, weight)
        return _factored_forward(theta, phi, weight)[0]
    w_row, w_col = weight.chunk(2, dim=1)
    relation = torch.matmul(theta.transpose(1, 2), phi)  # (B, M, M), R(i, j)
    # E[:, i] = W_row R(i, :)^T + W_col R(:, i)
    return torch.matmul(w_row, relation.transpose(1, 2)).add_(torch.matmul(w_col, relation))


def _needs_custom_backward(*tensors: Tensor) -> bool:
    """The hand-written backward only pays when a gradient is taken in eager mode.

    Without a gradient (inference, ONNX export) and while torch.compile / torch.export trace
    (they differentiate the plain expression themselves), :func:`_factored_forward` runs as
    standard ops, so an exported graph holds no autograd.Function.
    """
    if not torch.is_grad_enabled() or not any(t.requires_grad for t in tensors):
        return False
    return not is_compiling()


def _factored_forward(theta: Tensor, phi: Tensor,
                      weight: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """E = (W_row phi^T) theta + (W_col theta^T) phi, and the two (B, K, d) factors."""
    w_row, w_col = weight.chunk(2, dim=1)  # (K, M) views
    a_row = torch.matmul(phi, w_row.t()).transpose(1, 2)  # W_row phi^T as (B, K, d)
    a_col = torch.matmul(theta, w_col.t()).transpose(1, 2)  # W_col theta^T
    return torch.bmm(a_row, theta).baddbmm_(a_col, phi), a_row, a_col  # (B, K, M)


class _FactoredRelation(torch.autograd.Function):
    """E = (W_row phi^T) theta + (W_col theta^T) phi with a hand-written backward.

    Autograd through the same expression would hold the two (K, M) halves of dW and their
    concatenation at once; here the weight gradient is written into one (K, 2M) buffer, halving
    the backward's peak memory. Every product is a GEMM over the batch-folded (B*d, M) views:
    4*K*M*d multiply-adds per sample forward, 8*K*M*d backward.
    """

    @staticmethod
    def forward(ctx, theta: Tensor, phi: Tensor, weight: Tensor) -> Tensor:
        out, a_row, a_col = _factored_forward(theta, phi, weight)
        ctx.save_for_backward(theta, phi, weight, a_row, a_col)
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        theta, phi, weight, a_row, a_col = ctx.saved_tensors
        w_row, w_col = weight.chunk(2, dim=1)
        grad_out = grad_out.contiguous()
        grad_theta = grad_phi = grad_weight = None
        # dE/dA: (B, K, M) @ (B, M, d) -> (B, K, d)
        grad_a_row = torch.bmm(grad_out, theta.transpose(1, 2))
        grad_a_col = torch.bmm(grad_out, phi.transpose(1, 2))
        if ctx.needs_input_grad[0]:  # theta: in E directly and through A_col = W_col theta^T
            grad_theta = torch.bmm(a_row.transpose(1, 2), grad_out)
            grad_theta += torch.matmul(grad_a_col.transpose(1, 2), w_col)
        if ctx.needs_input_grad[1]:  # phi: in E directly and through A_row = W_row phi^T
            grad_phi = torch.bmm(a_col.transpose(1, 2), grad_out)
            grad_phi += torch.matmul(grad_a_row.transpose(1, 2), w_row)
        if ctx.needs_input_grad[2]:  # dW_row = sum_b dA_row[b] phi[b], one GEMM over (B*d)
            b, d, m = theta.shape
            grad_weight = weight.new_empty(weight.shape)
            for grad_a, nodes, out in ((grad_a_row, phi, grad_weight[:, :m]),
                                       (grad_a_col, theta, grad_weight[:, m:])):
                torch.mm(grad_a.permute(1, 0, 2).reshape(-1, b * d), nodes.reshape(b * d, m),
                         out=out)
        return grad_theta, grad_phi, grad_weight

