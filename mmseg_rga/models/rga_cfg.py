"""One way to configure an RGA block: defaults in one place, keys checked, built by the registry.

Heads (``rga_cfg`` of :class:`~mmseg_rga.models.heads.RGAHeadMixin`) and
:class:`~mmseg_rga.models.necks.RGANeck` both call :func:`build_rga_block`.
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
        **fallbacks: values for keys ``rga_cfg`` leaves out (e.g. a head's ``norm_cfg``).

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
    return {**DEFAULT_RGA_CFG, **fallbacks, **cfg}


def build_rga_block(rga_cfg: Optional[dict], in_channels: int, **fallbacks) -> nn.Module:
    """Build ``RGABlock(in_channels, **resolve_rga_cfg(rga_cfg, **fallbacks))`` via ``MODELS``."""
    if isinstance(rga_cfg, dict) and 'in_channels' in rga_cfg:
        raise InputError('rga_cfg must not set in_channels: the block always has the attended '
                         f"map's channels ({in_channels}); got "
                         f"in_channels={rga_cfg['in_channels']!r}")
    cfg = resolve_rga_cfg(rga_cfg, **fallbacks)
    return MODELS.build(dict(type='RGABlock', in_channels=in_channels, **cfg))
