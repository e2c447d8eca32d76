"""Runtime helpers for the tools: atomic saves and safe checkpoint loading, distributed training on
CPU hosts, and data checks that fail before the Runner starts.

Importing this package registers the ``CheckSegLabelRange`` transform in mmseg's ``TRANSFORMS``.
"""
from .checkpoint import add_unsafe_load_argument, use_atomic_checkpoint_hook
from .data_check import (
                         DatasetNotFoundError,
                         LabelValueError,
                         check_data,
                         check_dataset_dirs,
                         check_label_values,
                         dataloaders_for,
)
from .dist import revert_sync_bn_in_cfg, setup_cpu_distributed, teardown_cpu_distributed
from .transforms import CheckSegLabelRange

__all__ = [
    'add_unsafe_load_argument', 'use_atomic_checkpoint_hook', 'DatasetNotFoundError',
    'LabelValueError', 'check_data', 'check_dataset_dirs', 'check_label_values',
    'dataloaders_for', 'revert_sync_bn_in_cfg', 'setup_cpu_distributed',
    'teardown_cpu_distributed', 'CheckSegLabelRange'
]
