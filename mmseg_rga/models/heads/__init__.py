"""mmseg decode heads of mmseg_rga (registered into ``mmseg.registry.MODELS`` on import)."""
from .rga_heads import (
    RGAASPPHead,
    RGADepthwiseSeparableASPPHead,
    RGAFCNHead,
    RGAHeadMixin,
    RGAPSPHead,
    rga_head,
)

__all__ = [
    'RGAASPPHead', 'RGADepthwiseSeparableASPPHead', 'RGAFCNHead', 'RGAHeadMixin', 'RGAPSPHead',
    'rga_head'
]
