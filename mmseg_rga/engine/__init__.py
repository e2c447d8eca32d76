"""Registered training-loop parts (importing this package only registers them).

* ``'atomic_local'`` file backend (mmengine ``fileio``): atomic checkpoint writes;
* ``AtomicCheckpointHook`` (mmseg ``HOOKS``): atomic saves, resume from the newest checkpoint
  that loads;
* :func:`~.safe_load.checkpoint_loading`: safe loading (the file's format, then an allowlist
  unpickler with torch's weights-only rules).
"""
from .atomic_io import AtomicLocalBackend
from .checkpoint_hook import AtomicCheckpointHook
from .resume import NoIntactCheckpointError, find_intact_checkpoint
from .safe_load import SAFE_GLOBALS, UnsafeCheckpointError, checkpoint_loading, load_checkpoint_file

__all__ = [
    'AtomicLocalBackend', 'AtomicCheckpointHook', 'NoIntactCheckpointError',
    'find_intact_checkpoint', 'SAFE_GLOBALS', 'UnsafeCheckpointError', 'checkpoint_loading',
    'load_checkpoint_file'
]
