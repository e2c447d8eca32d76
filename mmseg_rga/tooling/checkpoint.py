"""Checkpoints in the tools: atomic saves on by default, safe loading, ``--unsafe-load``.

* :func:`use_atomic_checkpoint_hook`: a config whose ``default_hooks.checkpoint`` is mmengine's
  ``CheckpointHook`` trains with :class:`~mmseg_rga.engine.AtomicCheckpointHook` instead (same
  arguments): atomic saves, ``--resume`` from the newest checkpoint that loads. Any other hook
  type a user configured is left alone.
* :func:`checkpoint_loading` (from :mod:`mmseg_rga.engine.safe_load`): every local checkpoint
  the Runner loads inside it goes through ``load_checkpoint_file`` (the file's format, then an
  allowlist unpickler); ``--unsafe-load`` (:func:`add_unsafe_load_argument`) loads fully, with
  a warning. Nothing process-wide is set: torch's own default stays in force outside.
"""
import argparse

from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from mmseg_rga.engine.safe_load import checkpoint_loading  # noqa: F401  (the tools' entry)

ATOMIC_HOOK = 'AtomicCheckpointHook'


def add_unsafe_load_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        '--unsafe-load',
        action='store_true',
        help='unpickle checkpoints fully (torch.load weights_only=False; a TorchScript archive '
        'gives its weights through torch.jit.load). Only for files you trust: a checkpoint can '
        'run any code when loaded this way. Without it, a checkpoint must be a torch.save file '
        'that holds only the types mmengine checkpoints hold')


def use_atomic_checkpoint_hook(cfg) -> bool:
    """Swap mmengine's ``CheckpointHook`` in ``cfg.default_hooks`` for the atomic one.

    Returns whether the config now uses ``AtomicCheckpointHook`` (swapped or already there).
    """
    hook = (cfg.get('default_hooks') or {}).get('checkpoint')
    if hook is None:
        return False
    kind = hook.get('type')
    if kind in (ATOMIC_HOOK, f'mmseg.{ATOMIC_HOOK}'):
        return True
    if kind not in ('CheckpointHook', 'mmengine.CheckpointHook', CheckpointHook):
        print_log(f'default_hooks.checkpoint is {kind!r}: checkpoints are saved by it, not '
                  f'atomically by {ATOMIC_HOOK}', logger='current')
        return False
    hook['type'] = ATOMIC_HOOK
    return True
