"""What an honest mmengine checkpoint may hold beyond torch's tensors and containers.

:data:`SAFE_GLOBALS` are exactly the types mmengine 0.10 checkpoints of a segmentor hold (numpy
arrays, dtypes and scalars in the ``message_hub``, mmengine's ``HistoryBuffer`` with a checked
state, and a ``getattr`` that only returns HistoryBuffer's statistics methods), written under
numpy 1 or 2.
``import mmseg_rga`` registers them with torch (:func:`register_safe_globals`, torch >= 2.4).

:func:`allowed_globals` is the whole allowlist of the plugin's own unpickler
(:mod:`.allowlist_unpickler`): torch's weights-only globals plus :data:`SAFE_GLOBALS`.
:func:`check_call` and :func:`check_state` are the rules for the few allowlisted callables and
types that take a callable, a type or attribute names from the file.
"""
import codecs
import pickle
import re
from typing import Dict

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

from ..compat import HAS_SAFE_GLOBALS

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray

_STATISTICS = ('min', 'max', 'current', 'mean')  # registered by HistoryBuffer.__init__


class RefusedByRule(pickle.UnpicklingError):
    """A rule of the allowlist refused a call or a state."""


def _history_buffer_methods() -> dict:
    """name -> function: HistoryBuffer's statistics methods (its own four and any registered)."""
    found = {name: getattr(HistoryBuffer, name) for name in _STATISTICS}
    found.update(HistoryBuffer._statistics_methods)
    return found


class _CheckedHistoryBuffer(HistoryBuffer):
    """What a file that names ``HistoryBuffer`` gets, in torch's own weights-only loads too.

    HistoryBuffer's ``__setstate__`` merges the statistics methods a file names into the
    registry every HistoryBuffer of the process shares. This one checks the state first
    (:func:`check_state`) and then turns into a plain HistoryBuffer.
    """

    def __setstate__(self, state):
        check_state(self, state)
        self.__class__ = HistoryBuffer
        HistoryBuffer.__setstate__(self, state)


def _history_buffer_getattr(obj, name):
    """Stands in for ``builtins.getattr`` while unpickling.

    Pickle protocol 2 (``torch.save``'s) cannot name a method directly, so the
    ``HistoryBuffer._statistics_methods`` dict stored in every message hub is written as
    ``getattr(HistoryBuffer, 'min')``. Allowlisting the real ``getattr`` would let a file read
    any attribute of any allowlisted object; this one only returns HistoryBuffer's registered
    statistics methods.
    """
    if obj in (HistoryBuffer, _CheckedHistoryBuffer) and isinstance(name, str) and \
            name in _history_buffer_methods():
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({obj!r}, {name!r}) is not allowed: only HistoryBuffer statistics methods')


def _latin1_encode(text, encoding):
    """Stands in for ``_codecs.encode``: protocol 2 writes bytes as ``encode(text, 'latin1')``;
    no other codec is looked up."""
    if encoding not in ('latin1', 'latin-1') or not isinstance(text, str):
        raise RefusedByRule(f'_codecs.encode only decodes latin1 text; got {encoding!r}')
    return codecs.encode(text, 'latin1')


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
    (_CheckedHistoryBuffer, f'{HistoryBuffer.__module__}.HistoryBuffer'),
    (_history_buffer_getattr, 'builtins.getattr')]


def register_safe_globals() -> None:
    """Allow :data:`SAFE_GLOBALS` in every ``weights_only`` load of this process.

    What ``import mmseg_rga`` does (its one global effect). The ``getattr`` entry is registered
    as ``(_history_buffer_getattr, 'builtins.getattr')``: torch maps the name a file gives to
    that function, so a file naming ``builtins.getattr`` gets the restricted stand-in, never the
    real ``getattr``. Adding is idempotent (torch keeps a set). On torch < 2.4 (no
    ``add_safe_globals``) it does nothing.
    """
    if HAS_SAFE_GLOBALS:
        torch.serialization.add_safe_globals(SAFE_GLOBALS)


def allowed_globals() -> Dict[str, object]:
    """``'module.name'`` -> object: torch's own weights-only globals and :data:`SAFE_GLOBALS`."""
    from torch import _weights_only_unpickler
    allowed = dict(_weights_only_unpickler._get_allowed_globals())
    allowed['_codecs.encode'] = _latin1_encode  # torch 2.1 does not list it; 2.4+ the real one
    for entry in SAFE_GLOBALS:
        obj, name = entry if isinstance(entry, tuple) else (
            entry, f'{entry.__module__}.{entry.__qualname__}')
        allowed[name] = obj
    return allowed


def check_attributes(state, what: str) -> None:
    """A state that becomes attributes: None, a dict, or (dict, slots dict); str keys that are
    not dunder names (no ``__class__``, ``__dict__``...)."""
    parts = state if isinstance(state, tuple) and len(state) == 2 else (state,)
    for part in parts:
        if part is None:
            continue
        if not isinstance(part, dict):
            raise RefusedByRule(f'{what} state must be a dict of attributes; got '
                                f'{type(part).__name__}')
        bad = [k for k in part if not isinstance(k, str) or k.startswith('__')]
        if bad:
            raise RefusedByRule(f'{what} state may not set {bad[0]!r}')


def _tensor_rebuilds(allowed: Dict[str, object]) -> list:
    return [obj for name, obj in allowed.items() if name.startswith('torch._utils._rebuild_')]


def _check_rebuild_from_type(args: tuple, allowed: Dict[str, object]) -> None:
    """``_rebuild_from_type_v2(func, new_type, args, state)`` calls ``func(*args)`` and sets
    ``state`` on the result: ``func`` must be one of torch's tensor rebuild functions and
    ``new_type`` a tensor class."""
    if len(args) != 4:
        raise RefusedByRule('_rebuild_from_type_v2 takes (func, new_type, args, state)')
    func, new_type, _, state = args
    if not any(func is f for f in _tensor_rebuilds(allowed)):
        raise RefusedByRule(f'_rebuild_from_type_v2 may only call a torch tensor rebuild '
                            f'function; got {func!r}')
    if not (isinstance(new_type, type) and issubclass(new_type, torch.Tensor)):
        raise RefusedByRule(f'_rebuild_from_type_v2 may only build a tensor class; got '
                            f'{new_type!r}')
    check_attributes(state, 'tensor')


def check_call(func, args: tuple, allowed: Dict[str, object]) -> None:
    """Raise :class:`RefusedByRule` when an allowlisted ``func`` may not take ``args``."""
    if func is torch._tensor._rebuild_from_type_v2:
        _check_rebuild_from_type(args, allowed)
    elif func is getattr(torch._utils, '_rebuild_parameter_with_state', None) and len(args) > 3:
        check_attributes(args[3], 'Parameter')


def check_state(inst, state) -> None:
    """Raise :class:`RefusedByRule` when BUILD may not give ``state`` to ``inst``, an instance
    of an allowlisted class. A class without ``__setstate__`` gets the state as attributes (see
    :func:`check_attributes`); HistoryBuffer's ``__setstate__`` merges the statistics
    methods a file names into the class-wide registry, so they must be HistoryBuffer's own."""
    if isinstance(inst, HistoryBuffer):
        check_attributes(state, 'HistoryBuffer')
        methods = (state or {}).get('statistics_methods', {})
        own = _history_buffer_methods()
        if not isinstance(methods, dict) or any(own.get(k) is not v for k, v in methods.items()):
            raise RefusedByRule('HistoryBuffer state may only name its own statistics methods')
    elif not hasattr(inst, '__setstate__'):
        check_attributes(state, type(inst).__name__)
