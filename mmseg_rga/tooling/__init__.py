"""What the tools share (``tools/*.py``): launch and flags (``launch``), checkpoint loading under
torch >= 2.6 (``checkpoint``), CPU distributed training (``dist``), data checks (``data_check``),
``--synthetic-data`` (``synthetic_data``) and model loading for drawing (``inference``).

The plugin (``import mmseg_rga``) never imports this package; only the tools and tests do.
"""
from .checkpoint import enable_full_checkpoint_loading
from .data_check import DatasetNotFoundError, check_data
from .dist import revert_sync_bn_in_cfg, setup_cpu_distributed, teardown_cpu_distributed

__all__ = [
    'enable_full_checkpoint_loading', 'DatasetNotFoundError', 'check_data',
    'revert_sync_bn_in_cfg', 'setup_cpu_distributed', 'teardown_cpu_distributed'
]
