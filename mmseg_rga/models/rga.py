"""Relation-Aware Global Attention (Zhang et al., CVPR 2020, §3): RGA-S, RGA-C and their
combinations, with fixed-size pooling so the block accepts any input size.

Both branches are the same computation on a graph of M nodes with D-dim features, laid out as a
(B, D, M, 1) tensor (:class:`RelationAwareGate`):

* theta, phi: 1x1 conv D -> D/r_feat (no bias) + norm + act; R = theta^T phi, (M, M).
* relation embedding of node i: W [R(i,:), R(:,i)], W: 2M -> M/r_node (no bias) + norm + act,
  computed by :func:`relation_embedding` without materializing R.
* appearance: 1x1 conv D -> D/r_feat (no bias) + norm + act, then the mean over channels -> 1.
* y = concat[appearance (1), relation (M/r_node)]; logit: 1x1 conv -> max(1, len(y)//r_d) + norm +
  act, 1x1 conv -> 1 + norm; the gate is sigmoid(logit).

RGA-S (:class:`SpatialRGA`): nodes are the N = h*w positions (D = C, r_feat = r_c, r_node = r_s).
RGA-C (:class:`ChannelRGA`): nodes are the C channels, each an N-dim map (D = N, r_feat = r_s,
r_node = r_c). Layer names and semantics follow the official ``RGA_Module``
(see :mod:`mmseg_rga.models.convert`).
"""
import copy
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, build_activation_layer, build_norm_layer
from mmseg.registry import MODELS
from torch import Tensor

from ..checks import InputError, check_positive_int
from .fixed_size import FixedSizePool
from .norm_fit import norm_cfg_for
from .relation import relation_embedding

ORDERS = ('S', 'C', 'SC', 'CS', 'parallel')


def _reduced(width: int, ratio: int, what: str) -> int:
    """width // ratio, or a ValueError naming the layer when that leaves no channel."""
    check_positive_int(ratio, f'the reduction ratio for {what}')
    if width // ratio < 1:
        raise InputError(f'{what}: {width} // {ratio} leaves zero channels; use a ratio <= '
                         f'{width}')
    return width // ratio


class RelationEmbedding(nn.Module):
    """W [R(i,:), R(:,i)] + norm + act for every node, without building R.

    Args:
        num_nodes: M, so W has 2M input channels.
        out_channels: K.

    Shapes: theta, phi (B, d, M) -> (B, K, M, 1), in fp32 or fp64 (R can exceed fp16's range).
    """

    def __init__(self, num_nodes: int, out_channels: int, norm_cfg: dict, act_cfg: dict):
        super().__init__()
        self.num_nodes = num_nodes
        # Stored like the 1x1 conv it replaces: (K, 2M, 1, 1), first M inputs act on the row.
        self.weight = nn.Parameter(torch.empty(out_channels, 2 * num_nodes, 1, 1))
        self.norm_name, norm = build_norm_layer(norm_cfg, out_channels)
        self.add_module(self.norm_name, norm)
        self.activate = build_activation_layer(act_cfg) if act_cfg else nn.Identity()
        self.init_weights()

    def init_weights(self) -> None:
        nn.init.kaiming_normal_(self.weight, mode='fan_out', nonlinearity='relu')

    def forward(self, theta: Tensor, phi: Tensor) -> Tensor:
        # fp16/bf16 inputs (autocast) are lifted to fp32: R can exceed fp16's range
        dtype = torch.float64 if theta.dtype == torch.float64 else torch.float32
        with torch.autocast(device_type=theta.device.type, enabled=False):
            embedded = relation_embedding(theta.to(dtype), phi.to(dtype),
                                          self.weight.to(dtype).flatten(1))
            return self.activate(getattr(self, self.norm_name)(embedded.unsqueeze(-1)))


class RelationAwareGate(nn.Module):
    """Attention logits for M graph nodes from their features and relations.

    Args:
        feat_channels: D, the feature length of one node.
        num_nodes: M.
        feat_ratio: D -> D // feat_ratio for theta, phi and the appearance embedding.
        node_ratio: 2M -> M // node_ratio for the relation embedding.
        logit_ratio: r_d of the logit MLP.
        use_relation: build and use theta, phi and the relation embedding ("w/o Rel." if False).
        use_appearance: build and use the appearance embedding ("w/o Vis." if False).
        norm_cfg / fit_norm: the norm of every layer, fitted to each layer's width when
            ``fit_norm`` (see :mod:`.norm_fit`).
        branch: the gate's name in the block (``'spatial'`` / ``'channel'``), for messages.

    Shapes: nodes (B, D, M, 1) -> logits (B, 1, M, 1).
    """

    def __init__(self, feat_channels: int, num_nodes: int, feat_ratio: int = 8,
                 node_ratio: int = 8, logit_ratio: int = 8, use_relation: bool = True,
                 use_appearance: bool = True, norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None, names: Tuple[str, str] = ('D', 'M'),
                 fit_norm: bool = False, branch: str = 'gate'):
        super().__init__()
        norm_cfg = norm_cfg if norm_cfg is not None else dict(type='BN')
        act_cfg = act_cfg if act_cfg is not None else dict(type='ReLU')
        if not (use_relation or use_appearance):
            raise InputError('RGA needs use_relation or use_appearance (or both); got both False')
        self.feat_channels, self.num_nodes = feat_channels, num_nodes
        self.use_relation, self.use_appearance = use_relation, use_appearance

        def conv(width: int, layer: str, **kwargs) -> dict:
            norm = norm_cfg_for(norm_cfg, width, f'{branch}.{layer}', fit_norm)
            return dict(kernel_size=1, norm_cfg=norm, act_cfg=act_cfg, bias=False, **kwargs)

        logit_in = 0
        inter_feat = _reduced(feat_channels, feat_ratio, f'{names[0]} embedding')
        if use_relation:
            inter_nodes = _reduced(num_nodes, node_ratio, f'{names[1]} relation embedding')
            self.theta = ConvModule(feat_channels, inter_feat, **conv(inter_feat, 'theta'))
            self.phi = ConvModule(feat_channels, inter_feat, **conv(inter_feat, 'phi'))
            self.relation = RelationEmbedding(num_nodes, inter_nodes, norm_cfg_for(
                norm_cfg, inter_nodes, f'{branch}.relation', fit_norm), act_cfg)
            logit_in += inter_nodes
        if use_appearance:
            self.appearance = ConvModule(feat_channels, inter_feat,
                                         **conv(inter_feat, 'appearance'))
            logit_in += 1
        _reduced(logit_ratio, 1, 'the logit MLP ratio r_d')
        hidden = max(1, logit_in // logit_ratio)
        self.logit = nn.Sequential(
            ConvModule(logit_in, hidden, **conv(hidden, 'logit.0')),
            ConvModule(hidden, 1, **{**conv(1, 'logit.1'), 'act_cfg': None}))

    def node_logits(self, nodes: Tensor) -> Tensor:
        """(B, D, M, 1) -> (B, 1, M, 1) pre-sigmoid attention logits."""
        parts = []
        if self.use_appearance:
            parts.append(self.appearance(nodes).mean(dim=1, keepdim=True))
        if self.use_relation:
            theta = self.theta(nodes).flatten(2)  # (B, d, M)
            phi = self.phi(nodes).flatten(2)
            parts.append(self.relation(theta, phi).to(parts[0].dtype if parts else theta.dtype))
        return self.logit(torch.cat(parts, dim=1))


class SpatialRGA(RelationAwareGate):
    """RGA-S: one gate per position of a (B, C, h, w) map; nodes are the N = h*w positions.

    Shapes: x (B, C, h, w) -> gate (B, 1, h, w) in (0, 1).
    """

    def __init__(self, in_channels: int, pooled_size: Tuple[int, int], ratio_channel: int = 8,
                 ratio_spatial: int = 8, ratio_logit: int = 8, **kwargs):
        super().__init__(in_channels, pooled_size[0] * pooled_size[1], ratio_channel,
                         ratio_spatial, ratio_logit, names=('channel (C/r_c)', 'spatial (N/r_s)'),
                         branch='spatial', **kwargs)
        self.pooled_size = tuple(pooled_size)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        logits = self.node_logits(x.reshape(b, c, h * w, 1))
        return torch.sigmoid(logits).reshape(b, 1, h, w)


class ChannelRGA(RelationAwareGate):
    """RGA-C: one gate per channel; nodes are the C channels, each described by its N-dim map.

    Shapes: x (B, C, h, w) -> gate (B, C, 1, 1) in (0, 1).
    """

    def __init__(self, in_channels: int, pooled_size: Tuple[int, int], ratio_channel: int = 8,
                 ratio_spatial: int = 8, ratio_logit: int = 8, **kwargs):
        super().__init__(pooled_size[0] * pooled_size[1], in_channels, ratio_spatial,
                         ratio_channel, ratio_logit, names=('spatial (N/r_s)', 'channel (C/r_c)'),
                         branch='channel', **kwargs)
        self.pooled_size = tuple(pooled_size)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        nodes = x.reshape(b, c, h * w).transpose(1, 2).unsqueeze(-1)  # (B, N, C, 1)
        logits = self.node_logits(nodes)  # (B, 1, C, 1)
        return torch.sigmoid(logits).reshape(b, c, 1, 1)


@MODELS.register_module()
class RGABlock(nn.Module):
    """Relation-Aware Global Attention for any input size: RGA-S, RGA-C and combinations.

    The input is pooled to ``pooled_size`` with RoIAlign (identity when it already has that size),
    the gates are computed there, the spatial gate is resized back bilinearly and the gates are
    applied to the full-resolution input. Purely multiplicative: no residual, no scale.

    Orders:
        ``'S'`` / ``'C'``: one branch. ``'SC'`` (default, the paper's best): x_hat = x * a_s(x),
        out = x_hat * a_c(x_hat). ``'CS'``: x_hat = x * a_c(x), out = x_hat * a_s(x_hat).
        ``'parallel'`` (RGA-S//C): both gates from x, fused by product: out = x * a_s(x) * a_c(x).

    Args:
        in_channels: C of the input.
        pooled_size: (h, w) the relation layers are built for (N = h*w nodes), or one int.
        order: one of 'S', 'C', 'SC', 'CS', 'parallel'.
        ratio_channel: r_c, reduces a channel axis (C -> C/r_c).
        ratio_spatial: r_s, reduces a position axis (N -> N/r_s).
        ratio_logit: r_d, shrinks the logit MLP.
        use_relation / use_appearance: the "w/o Rel." / "w/o Vis." ablations when False.
        norm_cfg / act_cfg: mmcv configs for every norm / activation (SyncBN for multi-GPU);
            default BN / ReLU.
        fit_norm: fit ``norm_cfg`` to each layer's width (GroupNorm's group count, LayerNorm
            as one-group GN; :mod:`.norm_fit`) instead of refusing a norm that cannot
            normalize one. Heads set it for the ``norm_cfg`` they hand on.
        align_corners: geometry of the pooling and of the gate resize (see FixedSizePool).

    Shapes: x (B, C, H, W) -> (B, C, H, W). The forward keeps no state: to look at the gates,
    use :func:`mmseg_rga.visualization.capture_gates` (forward hooks on ``spatial``,
    ``channel`` and ``pool``).

    The block keeps the arguments it was built with (:attr:`init_args`), so
    :meth:`rebuilt` makes the same block with some of them changed (e.g. another
    ``pooled_size``, what ``get_flops.py --sweep-pooled`` counts) without its owner keeping a copy.
    """

    def __init__(self, in_channels: int, pooled_size: Union[int, Sequence[int]],
                 order: str = 'SC', ratio_channel: int = 8, ratio_spatial: int = 8,
                 ratio_logit: int = 8, use_relation: bool = True, use_appearance: bool = True,
                 norm_cfg: Optional[dict] = None, act_cfg: Optional[dict] = None,
                 align_corners: bool = False, fit_norm: bool = False):
        super().__init__()
        #: every argument of this call, for :meth:`rebuilt`
        self.init_args = copy.deepcopy(dict(
            in_channels=in_channels, pooled_size=pooled_size, order=order,
            ratio_channel=ratio_channel, ratio_spatial=ratio_spatial, ratio_logit=ratio_logit,
            use_relation=use_relation, use_appearance=use_appearance, norm_cfg=norm_cfg,
            act_cfg=act_cfg, align_corners=align_corners, fit_norm=fit_norm))
        if order not in ORDERS:
            raise InputError(f'order must be one of {ORDERS}; got {order!r}')
        self.in_channels = check_positive_int(in_channels, 'in_channels')
        self.order = order
        self.pool = FixedSizePool(pooled_size, align_corners)
        self.pooled_size = self.pool.pooled_size
        branch = dict(in_channels=in_channels, pooled_size=self.pooled_size,
                      ratio_channel=ratio_channel, ratio_spatial=ratio_spatial,
                      ratio_logit=ratio_logit, use_relation=use_relation,
                      use_appearance=use_appearance, norm_cfg=norm_cfg, act_cfg=act_cfg,
                      fit_norm=fit_norm)
        self.spatial = SpatialRGA(**branch) if 'S' in order or order == 'parallel' else None
        self.channel = ChannelRGA(**branch) if 'C' in order or order == 'parallel' else None

    def rebuilt(self, **changes) -> 'RGABlock':
        """A new block (fresh weights) from this one's arguments with ``changes`` applied."""
        unknown = sorted(set(changes) - set(self.init_args))
        if unknown:
            raise InputError(f'RGABlock has no arguments {unknown}; it takes '
                             f'{list(self.init_args)}')
        return type(self)(**{**copy.deepcopy(self.init_args), **changes})

    def _check_input(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.dim() != 4:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise InputError(f'RGABlock expects a 4D (B, C, H, W) tensor; got {shape}')
        if x.shape[1] != self.in_channels:
            raise InputError(f'RGABlock was built for in_channels={self.in_channels} but the '
                             f'input has {x.shape[1]} channels (shape {tuple(x.shape)})')

    def _spatial_gate(self, x: Tensor, pooled: Tensor) -> Tensor:
        """(B, 1, H, W): the gate computed at the pooled size, resized back to x's size."""
        return self.pool.unpool(self.spatial(pooled), x.shape[-2:])

    def _channel_gate(self, pooled: Tensor) -> Tensor:
        """(B, C, 1, 1)."""
        return self.channel(pooled)

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        pooled = self.pool.pool(x)
        if self.order == 'S':
            return x * self._spatial_gate(x, pooled)
        if self.order == 'C':
            return x * self._channel_gate(pooled)
        if self.order == 'parallel':
            return x * self._spatial_gate(x, pooled) * self._channel_gate(pooled)
        if self.order == 'SC':
            x = x * self._spatial_gate(x, pooled)
            return x * self._channel_gate(self.pool.pool(x))
        # 'CS': a per-channel scale commutes with the (linear) pooling, so pool(x * a_c) is
        # pool(x) * a_c and the input is pooled once.
        gate_c = self._channel_gate(pooled)
        x = x * gate_c
        return x * self._spatial_gate(x, pooled * gate_c)
