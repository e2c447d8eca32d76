"""What the tools share (``tools/*.py``): launch and flags (``launch``), atomic saves and
safe checkpoint loading (``checkpoint``), CPU distributed training (``dist``), data checks
(``data_check``), ``--synthetic-data`` (``synthetic_data``) and model loading
for drawing (``inference``).

The plugin (``import mmseg_rga``) never imports this package; only the tools and tests do.
"""
from .checkpoint import add_unsafe_load_argument, use_atomic_checkpoint_hook
from .data_check import DatasetNotFoundError, check_data
from .dist import revert_sync_bn_in_cfg, setup_cpu_distributed, teardown_cpu_distributed

__all__ = [
    'add_unsafe_load_argument', 'use_atomic_checkpoint_hook', 'DatasetNotFoundError', 'check_data',
    'revert_sync_bn_in_cfg', 'setup_cpu_distributed', 'teardown_cpu_distributed'
]
