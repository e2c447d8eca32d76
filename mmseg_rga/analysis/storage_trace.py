"""Every tensor storage a piece of code creates, when it dies, and what it is (a dispatch mode).

:class:`StorageTrace` is a ``TorchDispatchMode``: after each aten op it looks at the storages of
the outputs; a storage it has not seen is an allocation, and a weak reference to it records the
free when autograd, the optimizer or Python drop the last reference. It works on real tensors
and on ``FakeTensor`` s (no data, no compute: the memory of a ResNet-101 step in seconds).

Categories: a storage is tagged with the phase it was created in (``activations`` in the
forward pass, ``temporaries`` in the backward pass and the optimizer step) unless it was
registered (:meth:`track`: parameters, optimizer state, inputs) or re-tagged afterwards
(:meth:`retag`: the parameter gradients, which backward creates as temporaries and
``AccumulateGrad`` then keeps). Events keep storage ids, tags are looked up when replayed, so a
re-tag applies to the storage's whole life.

Data-dependent ops have no shape without data. With fake tensors, a boolean-mask index
(``x[mask]``, mmseg's ``accuracy``) and ``nonzero`` are given their largest result (every element
selected), and ``.item()`` / ``bool(t)`` return 1 / True (``_local_scalar_dense``).
"""
import weakref
from typing import Dict, List, Tuple

import torch
from torch._subclasses.fake_tensor import FakeTensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakIdKeyDictionary

aten = torch.ops.aten
CATEGORIES = ('parameters', 'gradients', 'optimizer state', 'activations', 'temporaries')
ALLOC, FREE = 1, -1


class StorageTrace(TorchDispatchMode):
    """Records ``events`` = [(ALLOC or FREE, storage id)]; ``nbytes`` and ``tag`` per id."""

    def __init__(self):
        super().__init__()
        self.events: List[Tuple[int, int]] = []
        self.persistent: List[int] = []  # ids registered with track(): alive before the events
        self.nbytes: Dict[int, int] = {}
        self.tag: Dict[int, str] = {}
        self.phase = 'activations'
        self._persistent = set()
        self._ids = WeakIdKeyDictionary()
        self._refs: Dict[int, weakref.ref] = {}

    # -- registration -------------------------------------------------------------------------
    def track(self, tensors, tag: str) -> None:
        """Register the storages of ``tensors`` as alive before the traced code, tagged ``tag``
        (parameters, optimizer state): in ``persistent``, not in ``events``."""
        for t in tensors:
            storage = t.untyped_storage()
            if storage not in self._ids:
                self._alloc(storage, tag)
                self.persistent.append(self.events.pop()[1])
                self._persistent.add(self.persistent[-1])

    def retag(self, tensors, tag: str) -> None:
        """Tag the storages of ``tensors`` as ``tag`` for their whole life."""
        for t in tensors:
            sid = self._ids.get(t.untyped_storage())
            if sid is not None:
                self.tag[sid] = tag

    # -- bookkeeping --------------------------------------------------------------------------
    def _see(self, storage, tag: str) -> None:
        sid = self._ids.get(storage)
        if sid is not None:
            if storage.nbytes() != self.nbytes[sid]:  # resized in place: a new allocation
                self._free(sid)
                self._alloc(storage, self.tag[sid])
            return
        self._alloc(storage, tag)

    def _alloc(self, storage, tag: str) -> None:
        sid = len(self.nbytes)
        self.nbytes[sid], self.tag[sid] = storage.nbytes(), tag
        self._ids[storage] = sid
        self._refs[sid] = weakref.ref(storage, lambda _, sid=sid: self._free(sid))
        self.events.append((ALLOC, sid))

    def _free(self, sid: int) -> None:
        if self._refs.pop(sid, None) is not None and sid not in self._persistent:
            self.events.append((FREE, sid))

    # -- the mode -----------------------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = _data_dependent(func, args, kwargs)
        if out is NotImplemented:
            out = func(*args, **kwargs)
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.device.type != 'meta':
                self._see(t.untyped_storage(), self.phase)
        return out


def _is_fake(args) -> bool:
    return any(isinstance(a, FakeTensor) for a in tree_flatten(args)[0])


def _data_dependent(func, args, kwargs):
    """The result of an op whose output shape depends on data, for fake tensors; else
    NotImplemented (the op runs as is)."""
    if not _is_fake(args):
        return NotImplemented
    if func is aten._local_scalar_dense.default:
        return True if args[0].dtype == torch.bool else 1
    if func is aten.nonzero.default:
        x = args[0]
        return torch.empty((x.numel(), x.dim()), dtype=torch.long, device=x.device)
    if func is aten.index.Tensor and any(
            i is not None and i.dtype in (torch.bool, torch.uint8) for i in args[1]):
        indices = []
        for i in args[1]:
            if i is not None and i.dtype in (torch.bool, torch.uint8):
                indices += [torch.empty(i.numel(), dtype=torch.long, device=i.device)] * i.dim()
            else:
                indices.append(i)
        return func(args[0], indices)
    return NotImplemented
