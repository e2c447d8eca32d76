"""mmseg decode heads of mmseg_rga (registered into ``mmseg.registry.MODELS`` on import).

The four heads of :mod:`.rga_heads` are written out; :mod:`.all_heads` registers ``RGA<Name>``
for every other mmseg decode head that can carry RGA (see ``all_heads.LEFT_OUT`` for those that
cannot).
"""
from .all_heads import LEFT_OUT, explain_missing_rga_type, register_rga_heads
from .rga_heads import (
    RGAASPPHead,
    RGADepthwiseSeparableASPPHead,
    RGAFCNHead,
    RGAHeadMixin,
    RGAPSPHead,
    forward_reaches_cls_seg,
    rga_head,
)

register_rga_heads()

__all__ = [
    'LEFT_OUT', 'RGAASPPHead', 'RGADepthwiseSeparableASPPHead', 'RGAFCNHead', 'RGAHeadMixin',
    'RGAPSPHead', 'explain_missing_rga_type', 'forward_reaches_cls_seg', 'register_rga_heads',
    'rga_head'
]
