"""Model analysis for the tools (FLOP counting, GPU memory estimation); the plugin's
``__init__`` never imports it."""
from .flops import count_flops, rga_block_flops

__all__ = ['count_flops', 'rga_block_flops']
