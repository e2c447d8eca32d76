"""Find the newest checkpoint of a work dir that loads, skipping (and naming) the broken ones.

mmengine's ``--resume`` trusts ``work_dir/last_checkpoint``: a file truncated by a kill, or one
that ``max_keep_ckpts`` deleted, ends the job with a raw traceback even though an older intact
checkpoint sits next to it. :func:`find_intact_checkpoint` walks back from ``last_checkpoint``
through the ``iter_*.pth`` / ``epoch_*.pth`` files, newest first, and returns the first one that
loads with :func:`~mmseg_rga.engine.safe_load.load_checkpoint_file`; every file it skips gets
a warning naming the file and why.
"""
import glob
import logging
import os.path as osp
import re
from typing import List, Optional, Tuple

from mmengine.logging import print_log

from ..checks import InputError
from .safe_load import UnsafeCheckpointError, load_checkpoint_file

_STEP = re.compile(r'(?:iter|epoch)_(\d+)\.pth$')


class NoIntactCheckpointError(InputError):
    """Resuming was asked for, checkpoints exist, and none of them loads."""


def _step(path: str) -> int:
    found = _STEP.search(osp.basename(path))
    return int(found.group(1)) if found else -1


def _last_checkpoint(work_dir: str) -> Optional[str]:
    """The path ``work_dir/last_checkpoint`` names, or None (absent or empty)."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer) as f:
        return f.read().strip() or None


def resume_candidates(work_dir: str) -> List[str]:
    """``last_checkpoint``'s target, then every ``iter_*.pth``/``epoch_*.pth`` next to it or in
    ``work_dir``, newest (highest number) first; a target with no number stays first."""
    last = _last_checkpoint(work_dir)
    dirs = {osp.abspath(work_dir)} | ({osp.dirname(osp.abspath(last))} if last else set())
    found = {osp.abspath(p) for d in dirs for pattern in ('iter_*.pth', 'epoch_*.pth')
             for p in glob.glob(osp.join(glob.escape(d), pattern)) if _STEP.search(p)}
    if last is not None:
        found.add(osp.abspath(last))
    return sorted(found, key=lambda p: (-_step(p) if _step(p) >= 0 else float('-inf'), p))


def _why_not(path: str) -> Optional[str]:
    """None when ``path`` loads as an mmengine checkpoint, else the reason in a few words."""
    if not osp.isfile(path):
        return 'missing (max_keep_ckpts may have deleted it)'
    try:
        checkpoint = load_checkpoint_file(path, map_location='cpu')
    except UnsafeCheckpointError as err:
        return str(err)
    except Exception as err:  # noqa: BLE001 - truncated/corrupt: torch raises many types
        first = str(err).strip().split('\n')[0].split('. ')[0]  # torch's reasons run long
        return f'{type(err).__name__}: {first}'
    if not isinstance(checkpoint, dict) or 'meta' not in checkpoint:
        return 'not an mmengine training checkpoint (no meta)'
    return None


def find_intact_checkpoint(work_dir: str, logger='current') -> Optional[str]:
    """The newest checkpoint of ``work_dir`` that loads; None when there is none at all.

    Raises:
        NoIntactCheckpointError: checkpoints exist (or ``last_checkpoint`` names one) but none
            loads; the message lists each file tried and why it failed.
    """
    tried: List[Tuple[str, str]] = []
    for path in resume_candidates(work_dir):
        reason = _why_not(path)
        if reason is None:
            if tried:
                print_log(f'resuming from {path}, the newest checkpoint that loads',
                          logger=logger, level=logging.WARNING)
            return path
        print_log(f'skipping checkpoint {path}: {reason}', logger=logger, level=logging.WARNING)
        tried.append((path, reason))
    if tried:
        listed = '; '.join(f'{p} ({r})' for p, r in tried)
        raise NoIntactCheckpointError(
            f'cannot resume: no checkpoint in {work_dir} loads. Tried: {listed}. Start without '
            '--resume (or resume=False) to train from scratch')
    return None
