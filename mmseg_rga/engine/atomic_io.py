"""Checkpoint files that are either complete or absent: write a temporary file, fsync, rename.

mmengine 0.10.7's ``save_checkpoint`` writes through ``get_file_backend(path, backend_args)
.put(bytes, path)``; :class:`AtomicLocalBackend`, registered as the file backend
``'atomic_local'``, makes that ``put`` (and ``put_text``) atomic on a local disk:

1. the bytes go to a hidden temporary file in the same directory
   (``.iter_4.pth.<pid>.<random>.tmp``), which is flushed and ``fsync``\\ ed;
2. ``os.replace`` renames it over the target (atomic on POSIX within one file system);
3. the directory is ``fsync``\\ ed, so the rename itself survives a power cut.

A process killed at any point leaves either the old file or the new one, plus at worst a stale
temporary file that :func:`remove_stale_temporaries` clears. Enable it in a config with
``default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')))`` or, better,
use :class:`~mmseg_rga.engine.AtomicCheckpointHook`, which also writes ``last_checkpoint`` this way.
"""
import glob
import os
import os.path as osp
import uuid
from pathlib import Path
from typing import List, Union

from mmengine.fileio import LocalBackend, register_backend

TMP_SUFFIX = '.tmp'


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temporary_path(path: str) -> str:
    """Hidden, unique name next to ``path`` (same directory, so ``os.replace`` is a rename)."""
    directory, name = osp.split(osp.abspath(path))
    return osp.join(directory, f'.{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}')


def remove_stale_temporaries(directory: str) -> List[str]:
    """Delete the temporary files a killed writer left in ``directory``; return their paths."""
    removed = []
    for path in glob.glob(osp.join(glob.escape(directory), f'.*.*.*{TMP_SUFFIX}')):
        try:
            os.remove(path)
            removed.append(path)
        except FileNotFoundError:  # another rank removed it first
            pass
    return removed


class AtomicLocalBackend(LocalBackend):
    """mmengine's :class:`~mmengine.fileio.LocalBackend` whose writes are atomic (see module)."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        path = os.fspath(filepath)
        directory = osp.dirname(osp.abspath(path))
        os.makedirs(directory, exist_ok=True)
        tmp = temporary_path(path)
        try:
            # O_EXCL: never follow or reuse an existing file; 0o666 & ~umask like open('wb')
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, 'wb') as f:
                f.write(obj)
                f.flush()
                os.fsync(f.fileno())
            self.before_replace(tmp, path)
            os.replace(tmp, path)
        except BaseException:
            if osp.exists(tmp):
                os.remove(tmp)
            raise
        _fsync_dir(directory)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        self.put(obj.encode(encoding), filepath)

    def before_replace(self, tmp_path: str, path: str) -> None:
        """Called with the complete, fsynced temporary file just before the rename (a no-op;
        the fault-injection test overrides it to kill the writer exactly there)."""


register_backend('atomic_local', AtomicLocalBackend)
