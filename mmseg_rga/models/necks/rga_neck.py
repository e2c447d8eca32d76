"""RGANeck: Relation-Aware Global Attention on selected backbone levels (paper §4.2).

A thin mmseg adapter around :class:`mmseg_rga.models.rga.RGABlock`: the attention math lives in
``rga.py`` and the block's settings in ``rga_cfg`` (:mod:`mmseg_rga.models.rga_cfg`); this module
only selects levels and fuses the attended map with the original one.
"""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor

from ...checks import InputError, check_positive_int, is_int
from ..rga_cfg import build_rga_block, rga_cfg_keys

FUSIONS = ('concat', 'replace')


@MODELS.register_module()
class RGANeck(BaseModule):
    """Apply an RGA block to selected backbone levels and fuse it with the original features.

    The paper (§4.2) applies RGA-SC "on the feature map of the last convolutional layer and
    concatenate[s] it with the original features". The sentence reads two ways in a segmentation
    network: the last backbone level (C5 of a dilated ResNet; this neck with its defaults:
    ``out = cat([x, RGA(x)], dim=1)``) or the decode head's last feature map before the
    classifier (:class:`~mmseg_rga.models.heads.RGAHeadMixin`). Both readings exist; neither is
    claimed to be the paper's exact placement.

    Output channels per level ``i`` (what the decode/auxiliary heads must be configured with):

    * ``i`` in ``in_index`` and ``fusion='concat'``: ``2 * in_channels[i]``
      (channels ``[0, C)`` are the input, ``[C, 2C)`` the attended map);
    * ``i`` in ``in_index`` and ``fusion='replace'``: ``in_channels[i]`` (the attended map);
    * any other level: ``in_channels[i]``, and the very same tensor object is passed through
      (so e.g. an auxiliary FCN head on layer3 is unaffected).

    The list is also available as :attr:`out_channels`.

    Args:
        in_channels: channels of every backbone level, in order (e.g. ``[256, 512, 1024, 2048]``
            for ResNet-50/101); the forward input must have ``len(in_channels)`` levels.
        in_index: the level(s) that get an RGA block; negative indices count from the end.
            Default: -1 (the last level).
        fusion: 'concat' (default, as in the paper) or 'replace'.
        rga_cfg: RGABlock arguments except ``in_channels``, as for the heads, e.g.
            ``dict(pooled_size=33, order='SC', align_corners=True, norm_cfg=dict(type='SyncBN'))``;
            missing keys come from :data:`~mmseg_rga.models.rga_cfg.DEFAULT_RGA_CFG`, then
            RGABlock's defaults (BN, ReLU, ``align_corners=False``: use the decode head's value,
            True in mmseg's 769x769 Cityscapes configs).
        init_cfg: mmengine init config. Default: None (the RGA layers' own Kaiming init).

    An RGA setting given as an argument of its own (``RGANeck(..., pooled_size=33)``) is refused
    with an :class:`~mmseg_rga.checks.InputError` that says to move it into ``rga_cfg``.

    Shapes:
        inputs: a tuple/list of ``len(in_channels)`` tensors (B, C_i, H_i, W_i) ->
        a tuple of the same length, (B, out_channels[i], H_i, W_i).
    """

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 in_index: Union[int, Sequence[int]] = -1,
                 fusion: str = 'concat',
                 rga_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 **unexpected) -> None:
        _refuse_flat_arguments(unexpected)
        super().__init__(init_cfg)
        if is_int(in_channels):
            in_channels = [in_channels]
        if not isinstance(in_channels, (list, tuple)) or not in_channels:
            raise InputError('in_channels must be a positive int or a non-empty list of positive '
                             f'ints (one per backbone level); got {in_channels!r}')
        self.in_channels: List[int] = [
            check_positive_int(c, f'in_channels[{i}]') for i, c in enumerate(in_channels)]
        if fusion not in FUSIONS:
            raise InputError(f'fusion must be one of {FUSIONS}; got {fusion!r}')
        self.num_levels = len(self.in_channels)
        self.in_index: List[int] = self._normalize_index(in_index)
        self.fusion = fusion
        self.rga_blocks = nn.ModuleList(
            build_rga_block(rga_cfg, self.in_channels[i]) for i in self.in_index)
        self.out_channels: List[int] = [
            (2 * c if (i in self.in_index and fusion == 'concat') else c)
            for i, c in enumerate(self.in_channels)
        ]

    def _normalize_index(self, in_index: Union[int, Sequence[int]]) -> List[int]:
        indices = [in_index] if is_int(in_index) else in_index
        if (not isinstance(indices, (list, tuple)) or not indices
                or not all(is_int(i) for i in indices)):
            raise InputError('in_index must be an int or a non-empty list of ints; got '
                             f'{in_index!r}')
        normalized = []
        for i in indices:
            if not -self.num_levels <= i < self.num_levels:
                raise InputError(f'in_index {i} is out of range for {self.num_levels} levels '
                                 f'(in_channels={self.in_channels}); expected an index in '
                                 f'[{-self.num_levels}, {self.num_levels - 1}]')
            normalized.append(i % self.num_levels)
        if len(set(normalized)) != len(normalized):
            raise InputError(f'in_index selects a level twice; got {in_index!r} '
                             f'(= levels {normalized})')
        return normalized

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """(B, C_i, H_i, W_i) per level -> (B, out_channels[i], H_i, W_i) per level."""
        if not isinstance(inputs, (list, tuple)):
            raise InputError('RGANeck expects a tuple/list of backbone levels; got '
                             f'{type(inputs).__name__}')
        if len(inputs) != self.num_levels:
            raise InputError(f'RGANeck was built for {self.num_levels} levels '
                             f'(in_channels={self.in_channels}) but got {len(inputs)} inputs')
        outs = list(inputs)
        for level, block in zip(self.in_index, self.rga_blocks):
            x = inputs[level]
            attended = block(x)
            outs[level] = torch.cat([x, attended], dim=1) if self.fusion == 'concat' else attended
        return tuple(outs)


def _refuse_flat_arguments(unexpected: dict) -> None:
    """An RGA setting passed next to ``rga_cfg`` instead of inside it: one line naming rga_cfg."""
    if not unexpected:
        return
    rga_keys = [k for k in unexpected if k in rga_cfg_keys()]
    if rga_keys:
        moved = ', '.join(f'{k}=...' for k in rga_keys)
        raise InputError(f'RGANeck takes the block\'s arguments in rga_cfg: move '
                         f'{", ".join(rga_keys)} into rga_cfg=dict({moved})')
    raise InputError(f'RGANeck got unexpected arguments {sorted(unexpected)}; it takes '
                     'in_channels, in_index, fusion, rga_cfg, init_cfg (RGA settings go into '
                     f'rga_cfg: {rga_cfg_keys()})')
