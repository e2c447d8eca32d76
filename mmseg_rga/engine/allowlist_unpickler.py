"""A pickle reader that builds only what mmengine checkpoints hold, by torch's weights-only rules.

:func:`~.safe_load.load_checkpoint_file` gives it to ``torch.load`` as ``pickle_module``
(:data:`ALLOWLIST_PICKLE`) on every torch; torch still reads the container (zip records,
storages), this reads the pickles. Like ``torch._weights_only_unpickler`` (torch 2.13), which it
follows, it interprets the pickle itself, opcode by opcode, and refuses before anything is
called:

* an opcode ``torch.save`` does not write (pickle protocol 2): EXT1/2/4, STACK_GLOBAL, INST,
  OBJ, NEWOBJ_EX, FRAME, PERSID, ...;
* a GLOBAL outside :func:`~.safe_globals.allowed_globals` (torch's weights-only globals and
  :data:`~.safe_globals.SAFE_GLOBALS`); nothing is imported;
* REDUCE or NEWOBJ on anything but one of those objects itself (never a value the file produced,
  such as a method the getattr stand-in returned), or with arguments the allowlisted callable
  may not take (:func:`~.safe_globals.check_call`);
* BUILD on anything but a tensor, a Parameter, an OrderedDict or an instance of an allowlisted
  class (never a class, function, module or numpy scalar), or with a state its rules refuse
  (:func:`~.safe_globals.check_state`);
* a tensor that comes out with backward hooks (callables the file chose, run at backward time);
* APPEND(S) on anything but a list, SETITEM(S) on anything but a dict, OrderedDict or Counter,
  a persistent id that is not a storage.

Every refusal is a ``pickle.UnpicklingError`` that names what was refused.
"""
import pickle
import pickletools
import types
from collections import Counter, OrderedDict
from struct import error as StructError
from struct import unpack
from sys import maxsize

import torch

from .safe_globals import allowed_globals, check_attributes, check_call, check_state

UnpicklingError = pickle.UnpicklingError
_OPCODE_NAMES = {op.code.encode('latin1')[0]: op.name for op in pickletools.opcodes}
_NEVER_BUILT = (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType,
                types.ModuleType)


def py3_name(module: str, name: str):
    """pickle's own mapping of Python 2 names (``__builtin__.getattr`` -> ``builtins``)."""
    import _compat_pickle
    module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _describe(obj) -> str:
    if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
        return f'{type(obj).__name__} {getattr(obj, "__qualname__", obj)!s}'
    return f'a {type(obj).__name__}'


class Unpickler:
    """``pickle.Unpickler``'s interface (``load``, ``find_class``, ``persistent_load``, ``memo``),
    which torch subclasses to map storage names and set ``persistent_load``."""

    def __init__(self, file, *, encoding: str = 'ASCII', errors: str = 'strict',
                 fix_imports: bool = True):
        self.read, self.readline = file.read, file.readline
        self.encoding = encoding
        self.memo = {}
        self.proto = -1
        self._allowed = allowed_globals()  # once per pickle, not per GLOBAL
        self._allowed_ids = {id(obj) for obj in self._allowed.values()}

    def find_class(self, module: str, name: str):
        """The allowlisted object ``module.name`` names; anything else is refused unimported."""
        module, name = py3_name(module, name)
        found = self._allowed.get(f'{module}.{name}')
        if found is None:
            raise UnpicklingError(f'GLOBAL {module}.{name} was not an allowed global')
        return found

    def persistent_load(self, pid):
        raise UnpicklingError('unsupported persistent id encountered')

    def load(self):
        """Read one pickle; return the object it builds."""
        self.stack, self.metastack = [], []
        while True:
            key = self.read(1)
            if not key:
                raise EOFError('the pickle ended before its STOP opcode')
            handler = _DISPATCH.get(key[0])
            if handler is None:
                name = _OPCODE_NAMES.get(key[0], f'0x{key[0]:02x}')
                raise UnpicklingError(f'opcode {name} is not one torch.save writes')
            try:
                if handler(self):
                    return self.stack.pop()
            except (IndexError, KeyError, StructError, UnicodeDecodeError) as err:  # underflow
                raise UnpicklingError(f'malformed pickle at opcode {_OPCODE_NAMES[key[0]]}: '
                                      f'{type(err).__name__} {err}') from None

    # ------------------------------------------------------------- what calls or sets state
    def _is_allowed(self, obj) -> bool:
        """``obj`` is an allowlisted object itself (``self._allowed`` keeps them alive, so no
        other live object has their ids)."""
        return id(obj) in self._allowed_ids

    @staticmethod
    def _checked_result(result):
        """``result`` of a call, BUILD or NEWOBJ, unless it is a tensor with backward hooks."""
        if isinstance(result, torch.Tensor) and getattr(result, '_backward_hooks', None):
            raise UnpicklingError('a tensor with backward hooks (callables run at backward '
                                  'time) is not allowed')
        return result

    def _global(self):
        module = self.readline()[:-1].decode('utf-8')
        name = self.readline()[:-1].decode('utf-8')
        self.stack.append(self.find_class(module, name))

    def _reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if not self._is_allowed(func):
            raise UnpicklingError(f'REDUCE may only call an allowlisted global, not '
                                  f'{_describe(func)} the file produced')
        if type(args) is not tuple:
            raise UnpicklingError(f'REDUCE arguments must be a tuple; got {_describe(args)}')
        check_call(func, args, self._allowed)
        self.stack[-1] = self._checked_result(func(*args))

    def _newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        if not (isinstance(cls, type) and self._is_allowed(cls)) or type(args) is not tuple:
            raise UnpicklingError(f'NEWOBJ may only create an allowlisted class, not '
                                  f'{_describe(cls)}')
        made = torch.nn.Parameter(*args) if cls is torch.nn.Parameter else cls.__new__(cls, *args)
        self.stack.append(self._checked_result(made))

    def _build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        kind = type(inst)
        if kind is torch.Tensor:  # legacy tensors: (storage, offset, size, stride)
            if type(state) is not tuple:
                raise UnpicklingError('BUILD of a tensor takes (storage, offset, size, stride)')
            inst.set_(*state)
        elif kind is torch.nn.Parameter:
            inst.__setstate__(state)
        elif kind is OrderedDict:  # a state_dict's _metadata
            if not isinstance(state, dict):
                raise UnpicklingError('BUILD of an OrderedDict takes a dict')
            check_attributes(state, 'OrderedDict')
            inst.__dict__.update(state)
        elif self._is_allowed(kind) and not isinstance(inst, _NEVER_BUILT):
            check_state(inst, state)
            self._set_state(inst, state)
        else:
            raise UnpicklingError(
                f'BUILD may only set the state of a tensor, Parameter, OrderedDict or an '
                f'instance of an allowlisted class, not {_describe(inst)}')
        self._checked_result(inst)

    @staticmethod
    def _set_state(inst, state):
        """pickle's ``load_build`` for an instance whose state passed :func:`check_state`."""
        if hasattr(inst, '__setstate__'):
            inst.__setstate__(state)
            return
        slots = None
        if isinstance(state, tuple) and len(state) == 2:
            state, slots = state
        for name, value in (state or {}).items():
            inst.__dict__[name] = value
        for name, value in (slots or {}).items():
            setattr(inst, name, value)

    def _binpersid(self):
        pid = self.stack.pop()
        if type(pid) is int:
            pass
        elif type(pid) is not tuple or not pid or \
                torch.serialization._maybe_decode_ascii(pid[0]) != 'storage':
            raise UnpicklingError(f'a persistent id may only name a storage; got {pid!r:.80}')
        self.stack.append(self.persistent_load(pid))

    # ------------------------------------------------------------------- containers, marks
    def _pop_mark(self):
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def _mark(self):
        self.metastack.append(self.stack)
        self.stack = []

    def _append(self):
        item = self.stack.pop()
        self._target(list, 'APPEND').append(item)

    def _appends(self):
        items = self._pop_mark()
        self._target(list, 'APPENDS').extend(items)

    def _setitem(self):
        value, key = self.stack.pop(), self.stack.pop()
        self._target((dict, OrderedDict, Counter), 'SETITEM')[key] = value

    def _setitems(self):
        items = self._pop_mark()
        target = self._target((dict, OrderedDict, Counter), 'SETITEMS')
        for i in range(0, len(items) - 1, 2):
            target[items[i]] = items[i + 1]

    def _target(self, kinds, opcode: str):
        target = self.stack[-1]
        if type(target) not in (kinds if isinstance(kinds, tuple) else (kinds,)):
            raise UnpicklingError(f'{opcode} on {_describe(target)} is not allowed')
        return target

    def _tuple(self):
        items = tuple(self._pop_mark())  # before self.stack is looked up: _pop_mark swaps it
        self.stack.append(items)

    def _tuple_n(self, n: int):
        items = tuple(self.stack[-n:]) if n else ()
        if len(items) != n:
            raise IndexError(f'TUPLE{n} needs {n} items')
        del self.stack[len(self.stack) - n:]
        self.stack.append(items)

    # --------------------------------------------------------------------------- literals
    def _binunicode(self):
        size = unpack('<I', self.read(4))[0]
        if size > maxsize:
            raise UnpicklingError('string too long')
        self.stack.append(str(self.read(size), 'utf-8', 'surrogatepass'))

    def _short_binstring(self):
        data = self.read(self.read(1)[0])
        self.stack.append(data if self.encoding == 'bytes' else data.decode(self.encoding))

    def _get(self, size: int):
        index = self.read(1)[0] if size == 1 else unpack('<I', self.read(4))[0]
        self.stack.append(self.memo[index])

    def _put(self, size: int):
        index = self.read(1)[0] if size == 1 else unpack('<I', self.read(4))[0]
        self.memo[index] = self.stack[-1]

    def _push(self, value):
        self.stack.append(value)

    def _proto(self):
        self.proto = self.read(1)[0]


def _dispatch() -> dict:
    """opcode byte -> handler(unpickler); a handler returns True at STOP."""
    op, u = pickle, Unpickler
    table = {
        op.GLOBAL: u._global, op.REDUCE: u._reduce, op.NEWOBJ: u._newobj, op.BUILD: u._build,
        op.BINPERSID: u._binpersid, op.MARK: u._mark, op.APPEND: u._append,
        op.APPENDS: u._appends, op.SETITEM: u._setitem, op.SETITEMS: u._setitems,
        op.TUPLE: u._tuple, op.BINUNICODE: u._binunicode, op.SHORT_BINSTRING: u._short_binstring,
        op.PROTO: u._proto, op.STOP: lambda self: True,
        op.TUPLE1: lambda self: self._tuple_n(1), op.TUPLE2: lambda self: self._tuple_n(2),
        op.TUPLE3: lambda self: self._tuple_n(3), op.EMPTY_TUPLE: lambda self: self._push(()),
        op.EMPTY_LIST: lambda self: self._push([]), op.EMPTY_DICT: lambda self: self._push({}),
        op.EMPTY_SET: lambda self: self._push(set()), op.NONE: lambda self: self._push(None),
        op.NEWTRUE: lambda self: self._push(True), op.NEWFALSE: lambda self: self._push(False),
        op.BININT: lambda self: self._push(unpack('<i', self.read(4))[0]),
        op.BININT1: lambda self: self._push(self.read(1)[0]),
        op.BININT2: lambda self: self._push(unpack('<H', self.read(2))[0]),
        op.BINFLOAT: lambda self: self._push(unpack('>d', self.read(8))[0]),
        op.LONG1: lambda self: self._push(pickle.decode_long(self.read(self.read(1)[0]))),
        op.BINGET: lambda self: self._get(1), op.LONG_BINGET: lambda self: self._get(4),
        op.BINPUT: lambda self: self._put(1), op.LONG_BINPUT: lambda self: self._put(4),
    }
    return {code[0]: handler for code, handler in table.items()}


_DISPATCH = _dispatch()


def load(file, **kwargs):
    """``pickle.load`` with the allowlist rules."""
    return Unpickler(file, **kwargs).load()


#: The ``pickle_module`` :func:`~.safe_load.load_checkpoint_file` gives ``torch.load``.
ALLOWLIST_PICKLE = types.ModuleType('mmseg_rga_allowlist_pickle')
ALLOWLIST_PICKLE.Unpickler = Unpickler
ALLOWLIST_PICKLE.load = load
ALLOWLIST_PICKLE.UnpicklingError = UnpicklingError
