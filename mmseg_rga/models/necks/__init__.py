"""mmseg necks of mmseg_rga (registered into ``mmseg.registry.MODELS`` on import)."""
from .rga_neck import RGANeck

__all__ = ['RGANeck']
