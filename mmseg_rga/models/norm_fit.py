"""The norm of each layer of an RGA block: ``norm_cfg`` as given, or fitted to the layer's width.

The block's widths follow the node grid and the ratios (e.g. 1089 // 8 = 136 for the spatial
relation embedding at 33x33 nodes, 1 for the last logit layer), so a norm that suits the head's
channels may not suit them. :func:`norm_cfg_for` applies the rule stated in
:mod:`mmseg_rga.models.rga_cfg`: with ``fit=True`` (the norm is inherited from a head) GroupNorm
gets the largest group count <= the requested one that divides the width, and a LayerNorm
becomes ``GN`` with one group; with ``fit=False`` (the user gave ``rga_cfg.norm_cfg``) a norm
that cannot normalize a width is an :class:`~mmseg_rga.checks.InputError`.
"""
import inspect
from typing import Optional

import torch.nn as nn
from mmengine.registry import MODELS

from ..checks import InputError


def norm_class(norm_cfg: dict) -> Optional[type]:
    """The class ``build_norm_layer`` would build for ``norm_cfg`` (None: not registered)."""
    kind = norm_cfg.get('type')
    if inspect.isclass(kind):
        return kind
    with MODELS.switch_scope_and_registry(None) as registry:
        return registry.get(kind)


def _cfg_text(norm_cfg: dict) -> str:
    items = ', '.join(f'{k}={v!r}' for k, v in norm_cfg.items())
    return f'dict({items})'


def _refuse(norm_cfg: dict, layer: str, width: int, why: str, fix: str) -> InputError:
    return InputError(
        f'rga_cfg.norm_cfg={_cfg_text(norm_cfg)} cannot normalize {layer} of the RGA block '
        f'({width} channels): {why}; {fix}, or leave norm_cfg out of rga_cfg (or set '
        'rga_cfg.fit_norm=True) to fit the norm to each width')


def largest_divisor(width: int, at_most: int) -> int:
    """The largest g <= ``at_most`` that divides ``width`` (1 at least)."""
    return next(g for g in range(min(width, max(1, at_most)), 0, -1) if width % g == 0)


def norm_cfg_for(norm_cfg: dict, width: int, layer: str, fit: bool) -> dict:
    """The ``norm_cfg`` that normalizes ``layer``'s ``width`` channels (see the module).

    Args:
        norm_cfg: an mmcv norm config (``build_norm_layer``).
        width: the channels of the layer's output (B, width, M, 1).
        layer: the layer's name in the block, for the message (e.g. ``'spatial.relation'``).
        fit: adapt the norm to the width (True) or refuse a norm that does not fit (False).

    Raises:
        InputError: ``fit`` is False and the norm cannot normalize ``width`` channels.
    """
    kind = norm_class(norm_cfg)
    cfg = dict(norm_cfg)
    if kind is not None and issubclass(kind, nn.LayerNorm):
        if not fit:
            raise _refuse(norm_cfg, layer, width, 'LayerNorm normalizes the last axis, and the '
                          "block's layers are channel-first (B, C, M, 1)",
                          "use dict(type='GN', num_groups=1) (a LayerNorm over the channels and "
                          'nodes) or a BN')
        return dict(type='GN', num_groups=1, eps=cfg.get('eps', 1e-5),
                    affine=cfg.get('elementwise_affine', True),
                    requires_grad=cfg.get('requires_grad', True))
    if kind is not None and issubclass(kind, nn.GroupNorm) and 'num_groups' in cfg:
        groups = cfg['num_groups']
        if width % groups:
            if not fit:
                raise _refuse(norm_cfg, layer, width, f'{groups} groups do not divide {width}',
                              f'use a num_groups that divides every width of the block (e.g. '
                              f'{largest_divisor(width, groups)} here, or 1)')
            cfg['num_groups'] = largest_divisor(width, groups)
    return cfg
