"""Runtime helpers for the tools: checkpoint loading under torch >= 2.6, distributed training on
CPU hosts, and data checks that fail before the Runner starts.

The plugin (``import mmseg_rga``) never imports this package; only the tools do.
"""
from .checkpoint import enable_full_checkpoint_loading
from .data_check import (
                         DatasetNotFoundError,
                         LabelValueError,
                         check_data,
                         check_dataset_dirs,
                         check_label_values,
                         dataloaders_for,
)
from .dist import revert_sync_bn_in_cfg, setup_cpu_distributed, teardown_cpu_distributed

__all__ = [
    'enable_full_checkpoint_loading', 'DatasetNotFoundError', 'LabelValueError', 'check_data',
    'check_dataset_dirs', 'check_label_values', 'dataloaders_for', 'revert_sync_bn_in_cfg',
    'setup_cpu_distributed', 'teardown_cpu_distributed'
]
