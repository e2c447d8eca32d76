"""RGA models. Importing this module registers them into ``mmseg.registry.MODELS``."""
from .convert import convert_official_rga
from .fixed_size import FixedSizePool
from .heads import (
    RGAASPPHead,
    RGADepthwiseSeparableASPPHead,
    RGAFCNHead,
    RGAHeadMixin,
    RGAPSPHead,
    rga_head,
)
from .losses import ClassWeightedCrossEntropyLoss
from .necks import RGANeck
from .relation import relation_embedding
from .rga import ChannelRGA, RelationAwareGate, RGABlock, SpatialRGA
from .rga_cfg import DEFAULT_RGA_CFG, build_rga_block
from .segmentors import BatchedSlideEncoderDecoder

__all__ = [
    'RGAASPPHead', 'RGADepthwiseSeparableASPPHead', 'RGAFCNHead', 'RGAHeadMixin', 'RGAPSPHead',
    'RGANeck', 'rga_head', 'ClassWeightedCrossEntropyLoss',
    'ChannelRGA', 'FixedSizePool', 'RGABlock', 'RelationAwareGate', 'SpatialRGA',
    'convert_official_rga', 'relation_embedding', 'DEFAULT_RGA_CFG', 'build_rga_block',
    'BatchedSlideEncoderDecoder'
]
