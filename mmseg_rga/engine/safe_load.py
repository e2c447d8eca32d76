"""Load checkpoints with ``torch.load(weights_only=True)`` and an explicit allowlist.

An mmengine checkpoint is a pickle; unpickling it fully can run any code the file names. torch's
``weights_only`` unpickler only builds tensors, containers and the globals it is given.
:data:`SAFE_GLOBALS` are exactly the types honest mmengine checkpoints hold (numpy arrays, dtypes
and scalars in the ``message_hub``, mmengine's ``HistoryBuffer``, and a ``getattr`` that only
returns HistoryBuffer's statistics methods). ``import mmseg_rga`` registers them with torch
(:func:`register_safe_globals`, ``torch.serialization.add_safe_globals``): from then on every
weights-only load in the process accepts them, mmseg's own ``tools/test.py``, ``init_model`` and
``MMSegInferencer`` included, and still refuses anything else. :func:`load_checkpoint_file` loads
with ``weights_only=True`` and turns a refusal into :class:`UnsafeCheckpointError`, naming the
types.

:func:`checkpoint_loading` puts every load of a local file by mmengine (``Runner.resume``,
``load_from``, ``init_model``) through the same function for the duration of a ``with`` block,
and with ``unsafe=True`` loads fully instead (for files the user trusts), with a warning. Remote
files (``https://``, ``open-mmlab://``) keep mmengine's loaders, which call ``torch.load`` with
torch's default (weights only since 2.6); the allowlist applies to them as well.

torch < 2.4 has no ``add_safe_globals``: its weights-only unpickler knows a fixed list that
refuses numpy. There :func:`load_checkpoint_file` passes torch a restricted unpickler
(:data:`ALLOWLIST_PICKLE`, as ``pickle_module``) that resolves exactly torch's own weights-only
globals plus :data:`SAFE_GLOBALS` and refuses every other name, the real ``builtins.getattr``
included, before anything is called. Only the process-wide registration is missing there: loads
outside this module keep torch's default (on torch < 2.6, full unpickling).
"""
import _compat_pickle
import codecs
import contextlib
import logging
import os.path as osp
import pickle
import pickletools
import re
import types
import zipfile
from typing import Dict, Iterator, List

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, print_log
from mmengine.runner.checkpoint import CheckpointLoader, load_from_local

from ..checks import InputError
from ..compat import HAS_SAFE_GLOBALS

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray


class UnsafeCheckpointError(InputError):
    """A checkpoint needs types outside :data:`SAFE_GLOBALS` to load."""


_STATISTICS = {'min', 'max', 'current', 'mean'}  # registered by HistoryBuffer.__init__


def _history_buffer_getattr(obj, name):
    """Stands in for ``builtins.getattr`` while unpickling.

    Pickle protocol 2 (``torch.save``'s) cannot name a method directly, so the
    ``HistoryBuffer._statistics_methods`` dict stored in every message hub is written as
    ``getattr(HistoryBuffer, 'min')``. Allowlisting the real ``getattr`` would let a file read
    any attribute of any allowlisted object; this one only returns HistoryBuffer's registered
    statistics methods.
    """
    if obj is HistoryBuffer and name in _STATISTICS | set(HistoryBuffer._statistics_methods):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'getattr({obj!r}, {name!r}) is not allowed: only HistoryBuffer statistics methods')


def _numpy_globals() -> list:
    found = [np.ndarray, np.dtype]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):  # writer's numpy 1 or 2
        found += [(_multiarray._reconstruct, f'{module}._reconstruct'),
                  (_multiarray.scalar, f'{module}.scalar')]
    dtypes = getattr(np, 'dtypes', None)  # numpy >= 1.25: the concrete dtype classes
    plain = re.compile(r'(Bool|U?Int\d+|Float\d+|Complex\d+|C?LongDouble|U?(Byte|Short|Int|Long|'
                       r'LongLong))DType$')
    for name in sorted(dir(dtypes)) if dtypes else []:
        cls = getattr(dtypes, name)
        if plain.match(name) and cls not in found:
            found.append(cls)
    return found


#: What :func:`register_safe_globals` allows: the globals an mmengine 0.10 checkpoint of a
#: segmentor (written under numpy 1 or 2) holds beyond torch's own tensors and containers.
SAFE_GLOBALS = _numpy_globals() + [
    HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr')]


def register_safe_globals() -> None:
    """Allow :data:`SAFE_GLOBALS` in every ``weights_only`` load of this process.

    What ``import mmseg_rga`` does (its one global effect). The ``getattr`` entry is registered
    as ``(_history_buffer_getattr, 'builtins.getattr')``: torch maps the name a file gives to
    that function, so a file naming ``builtins.getattr`` gets the restricted stand-in, never the
    real ``getattr``. Adding is idempotent (torch keeps a set); it is repeated before each load
    in case a caller cleared torch's list.

    On torch < 2.4 (no ``add_safe_globals``) it does nothing: :func:`load_checkpoint_file` uses
    :data:`ALLOWLIST_PICKLE` there.
    """
    if HAS_SAFE_GLOBALS:
        torch.serialization.add_safe_globals(SAFE_GLOBALS)


def _allowed_globals() -> Dict[str, object]:
    """``'module.name'`` -> object: torch's own weights-only globals and :data:`SAFE_GLOBALS`."""
    from torch import _weights_only_unpickler
    allowed = dict(_weights_only_unpickler._get_allowed_globals())
    # protocol 2 writes a numpy array's bytes as _codecs.encode(text, 'latin1'); torch >= 2.4
    # allows it by default, torch 2.0 does not list it
    allowed['_codecs.encode'] = codecs.encode
    for entry in SAFE_GLOBALS:
        obj, name = entry if isinstance(entry, tuple) else (
            entry, f'{entry.__module__}.{entry.__qualname__}')
        allowed[name] = obj
    return allowed


def _py3_name(module: str, name: str):
    """pickle's own mapping of Python 2 names (``__builtin__.getattr`` -> ``builtins``)."""
    module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


class _AllowlistUnpickler(pickle.Unpickler):
    """Resolves only :func:`_allowed_globals`; any other name is refused before it is imported."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._allowed = _allowed_globals()  # once per file, not per GLOBAL

    def find_class(self, module: str, name: str):
        module, name = _py3_name(module, name)  # protocol 2 (torch.save's) writes Python 2 names
        found = self._allowed.get(f'{module}.{name}')
        if found is None:
            raise pickle.UnpicklingError(
                f'Weights only load failed. WeightsUnpickler error: GLOBAL {module}.{name} was '
                'not an allowed global by default')
        return found


def _allowlist_load(file, **kwargs):
    return _AllowlistUnpickler(file, **kwargs).load()


#: The ``pickle_module`` :func:`load_checkpoint_file` gives ``torch.load`` on torch < 2.4.
ALLOWLIST_PICKLE = types.ModuleType('mmseg_rga_allowlist_pickle')
ALLOWLIST_PICKLE.Unpickler = _AllowlistUnpickler
ALLOWLIST_PICKLE.load = _allowlist_load
ALLOWLIST_PICKLE.__name__ = 'mmseg_rga_allowlist_pickle'

_UNSAFE_LOADING = [False]  # set by checkpoint_loading(unsafe=True)


def _globals_in_checkpoint(path: str) -> List[str]:
    """Every ``GLOBAL`` a zip checkpoint's pickle names (torch.save writes protocol 2)."""
    with zipfile.ZipFile(path) as archive:
        member = next(n for n in archive.namelist() if n.endswith('data.pkl'))
        data = archive.read(member)
    found = []
    for op, arg, _ in pickletools.genops(data):
        if op.name == 'GLOBAL':
            found.append('.'.join(_py3_name(*arg.split(' ', 1))))
    return found


def _unsafe_globals(path: str) -> List[str]:
    """The globals in ``path`` that :data:`SAFE_GLOBALS` does not allow."""
    register_safe_globals()
    try:
        if HAS_SAFE_GLOBALS and hasattr(torch.serialization, 'get_unsafe_globals_in_checkpoint'):
            return torch.serialization.get_unsafe_globals_in_checkpoint(path)
        allowed = _allowed_globals()
        return sorted({name for name in _globals_in_checkpoint(path) if name not in allowed
                       and 'Storage' not in name.rsplit('.', 1)[-1]})
    except Exception:  # noqa: BLE001 - not a zip checkpoint; the error of torch.load says more
        return []


def _refusal(path: str, err: Exception) -> UnsafeCheckpointError:
    names = _unsafe_globals(path)
    found = re.search(r'GLOBAL (\S+) was not an allowed global', str(err))
    if not names and found:
        names = [found.group(1)]
    if names:
        detail = f'it needs {", ".join(names)}, which an mmengine checkpoint does not hold'
    else:  # an allowlisted global refused its arguments, or an opcode torch does not build
        text = str(err).split('WeightsUnpickler error:')[-1]
        detail = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(err).__name__)
    return UnsafeCheckpointError(
        f'refusing to load {path}: {detail}; unpickling it fully could run code. If you trust '
        'the file, pass --unsafe-load')


def load_checkpoint_file(path: str, map_location=None) -> dict:
    """``torch.load`` of a local file, safe unless inside ``checkpoint_loading(unsafe=True)``.

    Raises:
        UnsafeCheckpointError: the file needs a type outside :data:`SAFE_GLOBALS`.
        Exception: what ``torch.load`` raises for a missing, truncated or corrupt file.
    """
    if _UNSAFE_LOADING[0]:
        return torch.load(path, map_location=map_location, weights_only=False)
    register_safe_globals()
    try:
        if HAS_SAFE_GLOBALS:
            return torch.load(path, map_location=map_location, weights_only=True)
        return torch.load(path, map_location=map_location, pickle_module=ALLOWLIST_PICKLE)
    except pickle.UnpicklingError as err:
        raise _refusal(path, err) from None


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
    restored to :func:`load_from_local` afterwards); other schemes use torch's default
    (weights-only with :data:`SAFE_GLOBALS` registered). ``unsafe=True`` loads local files
    fully, after a warning.
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
