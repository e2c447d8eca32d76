"""Load checkpoints by rules, on every torch: the file's format first, then an allowlist.

An mmengine checkpoint is a pickle; unpickling it fully can run any code the file names, and a
TorchScript archive runs its own code as soon as torch opens it. :func:`load_checkpoint_file`
opens the file once and, on every torch in the supported range:

1. checks what the file is (:mod:`.checkpoint_format`): a TorchScript archive, a tar, or a zip
   whose records two readers see differently is refused before torch reads it;
2. lets ``torch.load`` read it with the plugin's unpickler (:mod:`.allowlist_unpickler`, given
   as ``pickle_module``), which builds only torch's tensors and containers and
   :data:`SAFE_GLOBALS` (numpy arrays, dtypes and scalars, mmengine's ``HistoryBuffer``, a
   ``getattr`` narrowed to HistoryBuffer's statistics methods) by torch's weights-only rules;
3. turns any refusal into one :class:`UnsafeCheckpointError` line naming what was refused.

:func:`checkpoint_loading` puts every load of a local file by mmengine (``Runner.resume``,
``load_from``, ``init_model``) through the same function for the duration of a ``with`` block,
and with ``unsafe=True`` loads fully instead (for files the user trusts), with a warning. Remote
files (``https://``, ``open-mmlab://``) keep mmengine's loaders, which call ``torch.load`` with
torch's default: weights only from torch 2.6, full unpickling before.

``import mmseg_rga`` also registers :data:`SAFE_GLOBALS` with torch (torch >= 2.4,
:func:`register_safe_globals`), so that torch's own weights-only loads (mmseg's
``tools/test.py``, ``init_model``, torch >= 2.6's default) accept mmengine checkpoints. Those
loads follow torch's rules, not this module's; on torch < 2.6 they unpickle fully.
"""
import contextlib
import logging
import os
import os.path as osp
import pickle
import pickletools
import re
import zipfile
from typing import BinaryIO, Iterator, List

import torch
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader, load_from_local

from ..compat import HAS_SAFE_GLOBALS
from .allowlist_unpickler import ALLOWLIST_PICKLE, py3_name
from .checkpoint_format import (
    TORCHSCRIPT,
    ZIP,
    UnsafeCheckpointError,
    check_checkpoint_format,
    checkpoint_format,
    refusal,
)
from .safe_globals import SAFE_GLOBALS, allowed_globals, register_safe_globals

__all__ = ['ALLOWLIST_PICKLE', 'SAFE_GLOBALS', 'UnsafeCheckpointError', 'checkpoint_loading',
           'load_checkpoint_file', 'load_from_local_safely', 'register_safe_globals']

_UNSAFE_LOADING = [False]  # set by checkpoint_loading(unsafe=True)


def _globals_in_checkpoint(f: BinaryIO) -> List[str]:
    """Every ``GLOBAL`` the pickle of a zip checkpoint names (torch.save writes protocol 2)."""
    with zipfile.ZipFile(f) as archive:
        member = next(n for n in archive.namelist() if n.endswith('/data.pkl'))
        data = archive.read(member)
    found = []
    for op, arg, _ in pickletools.genops(data):
        if op.name == 'GLOBAL':
            found.append('.'.join(py3_name(*arg.split(' ', 1))))
    return found


def _unsafe_globals(f: BinaryIO) -> List[str]:
    """The globals in a zip checkpoint that the allowlist does not hold (torch's storage type
    names, which torch maps itself, aside); [] when the pickle cannot be listed."""
    try:
        if checkpoint_format(f)[0] != ZIP:
            return []
        allowed = allowed_globals()
        return sorted({name for name in _globals_in_checkpoint(f) if name not in allowed
                       and 'Storage' not in name.rsplit('.', 1)[-1]})
    except Exception:  # noqa: BLE001 - a pickle pickletools cannot walk: the error says more
        return []
    finally:
        f.seek(0)


def _refusal(path: str, f: BinaryIO, err: Exception) -> UnsafeCheckpointError:
    names = _unsafe_globals(f)
    found = re.search(r'GLOBAL (\S+) was not an allowed global', str(err))
    if not names and found:
        names = [found.group(1)]
    if names:
        detail = f'it needs {", ".join(names)}, which an mmengine checkpoint does not hold'
    else:  # an allowlisted global refused its arguments, or an opcode torch.save never writes
        detail = ' '.join(str(err).split()) or type(err).__name__
    return refusal(path, f'{detail}; unpickling it fully could run code')


def _load_trusted(f: BinaryIO, map_location):
    """``--unsafe-load``: torch.load in full; a TorchScript archive gives its weights."""
    if checkpoint_format(f)[0] == TORCHSCRIPT:
        return {'state_dict': torch.jit.load(f, map_location='cpu').state_dict()}
    return torch.load(f, map_location=map_location, weights_only=False)


def _torch_load_args() -> dict:
    """The allowlist unpickler; torch's own weights-only one where the user forces it
    (``TORCH_FORCE_WEIGHTS_ONLY_LOAD``, torch >= 2.4: torch then refuses any pickle_module)."""
    forced = os.environ.get('TORCH_FORCE_WEIGHTS_ONLY_LOAD', '0').lower() in (
        '1', 'y', 'yes', 'true')
    if forced and HAS_SAFE_GLOBALS:
        return dict(weights_only=True)
    return dict(pickle_module=ALLOWLIST_PICKLE, weights_only=False)


def load_checkpoint_file(path: str, map_location=None) -> dict:
    """``torch.load`` of a local file, safe unless inside ``checkpoint_loading(unsafe=True)``.

    The file is opened once: its format is checked (:func:`.check_checkpoint_format`), then
    torch reads the same open file with the allowlist unpickler (:data:`ALLOWLIST_PICKLE`).

    Raises:
        UnsafeCheckpointError: the file is not an mmengine checkpoint (a TorchScript archive, a
            tar, an ambiguous zip) or needs a type or call the allowlist refuses.
        Exception: what ``torch.load`` raises for a missing, truncated or corrupt file.
    """
    with open(path, 'rb') as f:
        if _UNSAFE_LOADING[0]:
            return _load_trusted(f, map_location)
        check_checkpoint_format(f, path)
        try:
            return torch.load(f, map_location=map_location, **_torch_load_args())
        except pickle.UnpicklingError as err:
            raise _refusal(path, f, err) from None


def load_from_local_safely(filename: str, map_location=None) -> dict:
    """mmengine's local checkpoint loader (:func:`load_from_local`) via
    :func:`load_checkpoint_file` (the name after ``load_from_`` is what mmengine logs)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return load_checkpoint_file(filename, map_location)


@contextlib.contextmanager
def checkpoint_loading(unsafe: bool = False) -> Iterator[None]:
    """Within the block, every checkpoint mmengine loads goes through the allowlist.

    Local files use :func:`load_from_local_safely` (registered for mmengine's ``''`` scheme and
    restored to :func:`load_from_local` afterwards); other schemes keep mmengine's loaders and
    torch's default: weights only with :data:`SAFE_GLOBALS` registered from torch 2.6, full
    unpickling before. ``unsafe=True`` loads local files fully, after a warning.
    """
    if unsafe:
        print_log('--unsafe-load: checkpoints are unpickled fully; a file from an untrusted '
                  'source can run any code on this machine', logger='current',
                  level=logging.WARNING)
    previous = _UNSAFE_LOADING[0]
    _UNSAFE_LOADING[0] = unsafe
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_safely, force=True)
    register_safe_globals()  # for the remote schemes' torch.load
    try:
        yield
    finally:
        CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)
        _UNSAFE_LOADING[0] = previous
