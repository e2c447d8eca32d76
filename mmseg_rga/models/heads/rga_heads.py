"""Decode heads with Relation-Aware Global Attention before the classifier (paper §4.2).

§4.2 of the paper: "We apply our RGA-SC module on the feature map of the last convolutional layer
and concatenate it with the original features of the baseline network." The sentence has two
readings and the paper does not say which it used:

* the head reading (this module): the last convolutional feature map of the segmentation head,
  i.e. the input of :meth:`BaseDecodeHead.cls_seg` (= dropout + ``conv_seg``), which every
  head's ``forward`` calls;
* the C5 reading (:class:`mmseg_rga.models.necks.RGANeck`): the backbone's last feature map,
  attended and concatenated with itself before PPM/ASPP/FCN.

``configs/rga/paper_protocol/`` has both for every RGA row of Table 6. Here one mechanism,
:class:`RGAHeadMixin`, wraps any head whose forward ends in ``cls_seg``:

    feat (B, channels, H, W) -> cat([feat, RGA(feat)]) (B, 2*channels, H, W)
                             -> dropout -> conv_seg (2*channels -> out_channels)

The heads below are that mixin on mmseg's PSP, ASPP, FCN and depthwise-separable ASPP heads;
:func:`rga_head` builds the same wrapper for any other head whose forward ends in ``cls_seg``;
:mod:`.all_heads` registers it for every such mmseg head. The attention math lives in
:mod:`mmseg_rga.models.rga`.
"""
from typing import Optional, Type

import torch
import torch.nn as nn
from mmseg.models.decode_heads import ASPPHead, DepthwiseSeparableASPPHead, FCNHead, PSPHead
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import Tensor

from ...checks import InputError
from ..rga_cfg import build_rga_block
from .head_rule import forward_reaches_cls_seg, unreadable_methods


class RGAHeadMixin:
    """Adds ``self.rga`` on the classifier input of a :class:`BaseDecodeHead` subclass.

    Put it first in the bases: ``class RGAXHead(RGAHeadMixin, XHead)``. After the base head is
    built, ``conv_seg`` is rebuilt with ``2 * channels`` inputs and :meth:`cls_seg` becomes
    ``dropout -> conv_seg`` on ``cat([feat, rga(feat)], dim=1)``. Everything else (the head's own
    layers, losses, inference, ``init_cfg`` of ``conv_seg``) is the base head's.

    Args:
        rga_cfg: keyword arguments of :class:`RGABlock` except ``in_channels`` (the head's
            ``channels``), e.g. ``dict(pooled_size=(33, 33), order='SC', ratio_channel=8)``.
            Missing keys: :data:`~mmseg_rga.models.rga_cfg.DEFAULT_RGA_CFG`
            (``pooled_size=33``, ``order='SC'``), then the head's own ``norm_cfg`` (fitted to
            each width of the block: the norm rule of :mod:`~mmseg_rga.models.rga_cfg`) and
            ``align_corners``; the rest are RGABlock's defaults. Unknown keys raise ValueError.
        *args, **kwargs: the base head's arguments.

    Attributes:
        rga (RGABlock): the attention block (its gates: :mod:`mmseg_rga.visualization`).
    """

    def __init__(self, *args, rga_cfg: Optional[dict] = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rga = build_rga_block(rga_cfg, self.channels, norm_cfg=self.norm_cfg,
                                   align_corners=self.align_corners)
        self.conv_seg = nn.Conv2d(2 * self.channels, self.out_channels, kernel_size=1)

    def cls_seg(self, feat: Tensor) -> Tensor:
        """(B, channels, H, W) -> (B, out_channels, H, W) through RGA, concat, dropout, conv_seg."""
        feat = torch.cat([feat, self.rga(feat)], dim=1)
        return super().cls_seg(feat)


def rga_head(base_cls: Type[BaseDecodeHead], name: Optional[str] = None) -> type:
    """Return ``class RGA<Base>(RGAHeadMixin, base_cls)``; the caller may register it.

    RGA sits in ``cls_seg``, so a head whose ``forward`` never calls ``self.cls_seg`` would build
    the block and never use it. The rule (:mod:`.head_rule`): the ``forward`` found on
    ``base_cls``'s MRO must use ``self.cls_seg``, directly or through ``self.<method>(...)`` /
    ``super().<method>(...)`` calls into methods defined on decode head classes (read from their
    source). In mmseg 1.2.2, ``SegmenterMaskTransformerHead``, ``VPDDepthHead``,
    ``SideAdapterCLIPHead`` and ``IterativeDecodeHead`` (K-Net: its sub-head's ``cls_seg``) fail it.

    Unreadable source: a method on the way whose source cannot be read (defined by ``exec``, in
    a C extension or a ``.pyc`` without its ``.py``, not a plain function) shows no way to
    ``cls_seg``. When no readable path reaches ``cls_seg`` the head is refused, and the error
    names the method that could not be read: the rule never guesses, and it answers the same on
    every supported Python (it parses source files with :mod:`ast`). To wrap such a head anyway,
    write the class out: ``class RGAMyHead(RGAHeadMixin, MyHead): ...`` (no rule is applied to
    a class written by hand; make sure its forward calls ``self.cls_seg``).

    Args:
        base_cls: an mmseg decode head whose forward reaches ``self.cls_seg(feat)``.
        name: class name; default ``'RGA' + base_cls.__name__``.

    Raises:
        ValueError: ``base_cls`` is not a BaseDecodeHead subclass, its forward never reaches
            ``cls_seg``, or the rule could not read a method it needed (see above).

    Example:
        >>> from mmseg.models.decode_heads import NLHead
        >>> MODELS.register_module(module=rga_head(NLHead))  # type='RGANLHead'
    """
    if not (isinstance(base_cls, type) and issubclass(base_cls, BaseDecodeHead)):
        raise InputError(f'rga_head expects a BaseDecodeHead subclass; got {base_cls!r}')
    reaches = forward_reaches_cls_seg(base_cls)
    if reaches is None:
        raise InputError(
            f'rga_head cannot check {base_cls.__name__}: the source of '
            f'{", ".join(unreadable_methods(base_cls))} cannot be read, and no readable path '
            'from its forward reaches self.cls_seg (where RGA is applied). Write the class out '
            f'instead: class RGA{base_cls.__name__}(RGAHeadMixin, {base_cls.__name__})')
    if not reaches:
        raise InputError(f'rga_head expects a decode head whose forward calls self.cls_seg(feat) '
                         f'(RGA is applied there); {base_cls.__name__}.forward never reaches '
                         f'cls_seg, so RGA would be built and never used')
    name = name or f'RGA{base_cls.__name__}'
    doc = (f'{base_cls.__name__} with RGA on its classifier input (see RGAHeadMixin).\n\n'
           f'Args:\n    rga_cfg (dict, optional): RGABlock arguments (see RGAHeadMixin).\n'
           f'    **kwargs: arguments of {base_cls.__name__}.\n')
    return type(name, (RGAHeadMixin, base_cls),
                dict(__doc__=doc, __module__=__name__, __qualname__=name))


@MODELS.register_module()
class RGAPSPHead(RGAHeadMixin, PSPHead):
    """PSPNet head (PPM) with RGA on its last feature map: Table 6's "+PPM+RGA-SC", head reading.

    The PPM bottleneck output (B, channels, H, W) goes through RGA and is concatenated with
    itself before the classifier, which sees ``2 * channels``.

    Args:
        rga_cfg (dict, optional): RGABlock arguments (see :class:`RGAHeadMixin`).
        **kwargs: arguments of :class:`PSPHead` (``pool_scales`` and the base head's).
    """


@MODELS.register_module()
class RGAASPPHead(RGAHeadMixin, ASPPHead):
    """DeepLabV3 head (ASPP) with RGA on its last feature map: "+ASPP+RGA-SC", head reading.

    Args:
        rga_cfg (dict, optional): RGABlock arguments (see :class:`RGAHeadMixin`).
        **kwargs: arguments of :class:`ASPPHead` (``dilations`` and the base head's).
    """


@MODELS.register_module()
class RGAFCNHead(RGAHeadMixin, FCNHead):
    """FCN head with RGA on the output of its last conv: "ResNet-101 + RGA-SC", head reading.

    Args:
        rga_cfg (dict, optional): RGABlock arguments (see :class:`RGAHeadMixin`).
        **kwargs: arguments of :class:`FCNHead` (``num_convs``, ``concat_input``, ...).
    """


@MODELS.register_module()
class RGADepthwiseSeparableASPPHead(RGAHeadMixin, DepthwiseSeparableASPPHead):
    """DeepLabV3+ head with RGA on the output of its separable bottleneck (after the decoder).

    Args:
        rga_cfg (dict, optional): RGABlock arguments (see :class:`RGAHeadMixin`).
        **kwargs: arguments of :class:`DepthwiseSeparableASPPHead`.
    """
