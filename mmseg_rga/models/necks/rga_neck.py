"""RGANeck: Relation-Aware Global Attention on selected backbone levels (paper §4.2).

A thin mmseg adapter around :class:`mmseg_rga.models.rga.RGABlock`: the attention math lives in
``rga.py``; this module only selects levels, fuses the attended map with the original one and
checks shapes.
"""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor

from ..rga import RGABlock

FUSIONS = ('concat', 'replace')


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@MODELS.register_module()
class RGANeck(BaseModule):
    """Apply an RGA block to selected backbone levels and fuse it with the original features.

    The paper (§4.2) applies RGA-SC "on the feature map of the last convolutional layer and
    concatenate[s] it with the original features". With the defaults this neck does exactly that
    on the last backbone level (C5 of a dilated ResNet): ``out = cat([x, RGA(x)], dim=1)``.

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
        pooled_size: (h, w) the RGA relation layers are built for (or one int); any feature size
            is RoIAligned to it (see :class:`mmseg_rga.models.fixed_size.FixedSizePool`).
            Default: 33 (N = 1089 nodes; 97x97 C5 maps at a 769 crop map back exactly with
            ``align_corners=True``).
        order: RGA order, one of 'S', 'C', 'SC', 'CS', 'parallel'. Default: 'SC'.
        ratio_channel: r_c. Default: 8.
        ratio_spatial: r_s. Default: 8.
        ratio_logit: r_d. Default: 8.
        use_relation: keep the relation embedding (False: "w/o Rel." ablation). Default: True.
        use_appearance: keep the appearance embedding (False: "w/o Vis."). Default: True.
        fusion: 'concat' (default, as in the paper) or 'replace'.
        norm_cfg: norm of the RGA layers (``dict(type='SyncBN', requires_grad=True)`` for
            multi-GPU training). Default: None -> BN.
        act_cfg: activation of the RGA layers. Default: None -> ReLU.
        align_corners: geometry of the pooling and of the gate resize; use the decode head's
            value (True in mmseg's 769x769 Cityscapes configs). Default: False.
        init_cfg: mmengine init config. Default: None (the RGA layers' own Kaiming init).

    Shapes:
        inputs: a tuple/list of ``len(in_channels)`` tensors (B, C_i, H_i, W_i) ->
        a tuple of the same length, (B, out_channels[i], H_i, W_i).
    """

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 in_index: Union[int, Sequence[int]] = -1,
                 pooled_size: Union[int, Sequence[int]] = 33,
                 order: str = 'SC',
                 ratio_channel: int = 8,
                 ratio_spatial: int = 8,
                 ratio_logit: int = 8,
                 use_relation: bool = True,
                 use_appearance: bool = True,
                 fusion: str = 'concat',
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None,
                 align_corners: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        if _is_int(in_channels):
            in_channels = [in_channels]
        if (not isinstance(in_channels, (list, tuple)) or not in_channels
                or not all(_is_int(c) and c > 0 for c in in_channels)):
            raise ValueError('in_channels must be a positive int or a non-empty list of positive '
                             f'ints (one per backbone level); got {in_channels!r}')
        if fusion not in FUSIONS:
            raise ValueError(f'fusion must be one of {FUSIONS}; got {fusion!r}')
        self.in_channels: List[int] = list(in_channels)
        self.num_levels = len(self.in_channels)
        self.in_index: List[int] = self._normalize_index(in_index)
        self.fusion = fusion
        self.rga_blocks = nn.ModuleList(
            RGABlock(
                self.in_channels[i],
                pooled_size,
                order=order,
                ratio_channel=ratio_channel,
                ratio_spatial=ratio_spatial,
                ratio_logit=ratio_logit,
                use_relation=use_relation,
                use_appearance=use_appearance,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg,
                align_corners=align_corners) for i in self.in_index)
        self.out_channels: List[int] = [
            (2 * c if (i in self.in_index and fusion == 'concat') else c)
            for i, c in enumerate(self.in_channels)
        ]

    def _normalize_index(self, in_index: Union[int, Sequence[int]]) -> List[int]:
        indices = [in_index] if _is_int(in_index) else in_index
        if (not isinstance(indices, (list, tuple)) or not indices
                or not all(_is_int(i) for i in indices)):
            raise ValueError('in_index must be an int or a non-empty list of ints; got '
                             f'{in_index!r}')
        normalized = []
        for i in indices:
            if not -self.num_levels <= i < self.num_levels:
                raise ValueError(f'in_index {i} is out of range for {self.num_levels} levels '
                                 f'(in_channels={self.in_channels}); expected an index in '
                                 f'[{-self.num_levels}, {self.num_levels - 1}]')
            normalized.append(i % self.num_levels)
        if len(set(normalized)) != len(normalized):
            raise ValueError(f'in_index selects a level twice; got {in_index!r} '
                             f'(= levels {normalized})')
        return normalized

    @property
    def rga(self) -> RGABlock:
        """The RGA block of the last selected level (for gate visualization tools)."""
        return self.rga_blocks[-1]

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """(B, C_i, H_i, W_i) per level -> (B, out_channels[i], H_i, W_i) per level."""
        if not isinstance(inputs, (list, tuple)):
            raise ValueError('RGANeck expects a tuple/list of backbone levels; got '
                             f'{type(inputs).__name__}')
        if len(inputs) != self.num_levels:
            raise ValueError(f'RGANeck was built for {self.num_levels} levels '
                             f'(in_channels={self.in_channels}) but got {len(inputs)} inputs')
        outs = list(inputs)
        for level, block in zip(self.in_index, self.rga_blocks):
            x = inputs[level]
            if not isinstance(x, Tensor) or x.dim() != 4:
                got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
                raise ValueError(f'RGANeck level {level}: expected a 4D (B, C, H, W) tensor; '
                                 f'got {got}')
            if x.shape[1] != self.in_channels[level]:
                raise ValueError(f'RGANeck level {level}: expected {self.in_channels[level]} '
                                 f'channels (in_channels[{level}]) but got {x.shape[1]} '
                                 f'(shape {tuple(x.shape)})')
            attended = block(x)
            outs[level] = torch.cat([x, attended], dim=1) if self.fusion == 'concat' else attended
        return tuple(outs)
