"""One way to configure an RGA block: defaults in one place, keys checked, built by the registry.

Heads (``rga_cfg`` of :class:`~mmseg_rga.models.heads.RGAHeadMixin`) and
:class:`~mmseg_rga.models.necks.RGANeck` both call :func:`build_rga_block`.

The norm rule. Every layer of the block is normalized with ``norm_cfg``, at widths set by the
node grid and the ratios (at 33x33 nodes and r_s = 8 the spatial relation embedding is
1089 // 8 = 136 wide; the logit MLP ends at width 1):

* a ``norm_cfg`` inherited from the head (``rga_cfg`` does not set it) is fitted to each width
  (``fit_norm=True``): GroupNorm takes the largest group count <= its ``num_groups`` that
  divides the width (GN 32 at width 136 -> 17 groups, at width 1 -> 1); a LayerNorm (mmcv
  ``LN``, which normalizes the last axis of a channel-last tensor) becomes
  ``dict(type='GN', num_groups=1)`` with its ``eps``, the channel-first LayerNorm over channels
  and nodes; per-channel norms (BN, SyncBN, IN) fit every width as they are;
* a ``norm_cfg`` given in ``rga_cfg`` is used as given: one that cannot normalize a layer's width
  (GN groups that do not divide it, a LayerNorm) is an InputError naming ``rga_cfg.norm_cfg``,
  the layer and its width; ``rga_cfg.fit_norm=True`` applies the fitting above to it instead.
"""
import difflib
import inspect
from typing import Optional

import torch.nn as nn
from mmseg.registry import MODELS

from ..checks import InputError
from .rga import RGABlock

#: RGA settings used when ``rga_cfg`` does not give them. 33x33 nodes: (33 - 1) divides
#: (97 - 1), so the 97x97 maps of a 769 crop (output stride 8) pool and resize back exactly with
#: ``align_corners=True``; the relation layers stay at a few hundred K parameters.
DEFAULT_RGA_CFG = dict(pooled_size=33, order='SC')


def rga_cfg_keys() -> list:
    """The keys an ``rga_cfg`` may set: RGABlock's arguments except ``in_channels``."""
    params = inspect.signature(RGABlock.__init__).parameters
    return [name for name in params if name not in ('self', 'in_channels')]


def _check_keys(cfg: dict, what: str) -> None:
    valid = rga_cfg_keys()
    for key in cfg:
        if key not in valid:
            close = difflib.get_close_matches(str(key), valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ''
            raise InputError(f'unknown {what} key {key!r}{hint}; valid keys: {valid}')


def resolve_rga_cfg(rga_cfg: Optional[dict] = None, **fallbacks) -> dict:
    """The RGABlock arguments: ``rga_cfg`` over ``fallbacks`` over :data:`DEFAULT_RGA_CFG`.

    Args:
        rga_cfg: RGABlock keyword arguments (``type='RGABlock'`` allowed); None: the defaults.
        **fallbacks: values for keys ``rga_cfg`` leaves out (e.g. a head's ``norm_cfg``, which
            is then fitted to each width: ``fit_norm=True`` unless ``rga_cfg`` sets it).

    Raises:
        ValueError: not a dict, another ``type``, ``in_channels`` given, or an unknown key (the
            message names the valid keys and the closest one).
    """
    if rga_cfg is None:
        rga_cfg = {}
    if not isinstance(rga_cfg, dict):
        raise InputError(f'rga_cfg must be a dict of RGABlock arguments or None; got '
                         f'{type(rga_cfg).__name__}: {rga_cfg!r}')
    cfg = dict(rga_cfg)
    if cfg.pop('type', 'RGABlock') != 'RGABlock':
        raise InputError(f"rga_cfg['type'] must be 'RGABlock' (or left out); got "
                         f"{rga_cfg['type']!r}")
    if 'in_channels' in cfg:
        raise InputError('rga_cfg must not set in_channels: the block takes the channels of the '
                         f"map it attends to; got in_channels={cfg['in_channels']!r}")
    _check_keys(cfg, 'rga_cfg')
    _check_keys(fallbacks, 'RGA fallback')
    resolved = {**DEFAULT_RGA_CFG, **fallbacks, **cfg}
    if 'norm_cfg' in fallbacks and 'norm_cfg' not in cfg:  # inherited: fitted (module doc)
        resolved.setdefault('fit_norm', True)
    return resolved


def build_rga_block(rga_cfg: Optional[dict], in_channels: int, **fallbacks) -> nn.Module:
    """Build ``RGABlock(in_channels, **resolve_rga_cfg(rga_cfg, **fallbacks))`` via ``MODELS``."""
    if isinstance(rga_cfg, dict) and 'in_channels' in rga_cfg:
        raise InputError('rga_cfg must not set in_channels: the block always has the attended '
                         f"map's channels ({in_channels}); got "
                         f"in_channels={rga_cfg['in_channels']!r}")
    cfg = resolve_rga_cfg(rga_cfg, **fallbacks)
    return MODELS.build(dict(type='RGABlock', in_channels=in_channels, **cfg))
