"""Peak GPU memory of one training step (or one inference) of a model, traced on a CPU.

:func:`trace_train_step` and :func:`trace_inference` run a model under a
:class:`~mmseg_rga.analysis.storage_trace.StorageTrace` (on ``FakeTensor`` s: shapes, dtypes
and autograd without data or compute), and :func:`replay` feeds the recorded allocations and
frees to :class:`~mmseg_rga.analysis.cuda_allocator.CachingAllocator` for two iterations; the
second, with the allocator's cache warm, is the steady state that mmengine logs as ``memory``
(``torch.cuda.max_memory_allocated``, reset at every log line).

Modelled: parameters and buffers; parameter gradients; the optimizer state as it is from the
second iteration on (registered before the traced step; SGD momentum = 1x the trainable
parameters) and the optimizer's own temporaries (``foreach=True``, torch's default on CUDA);
AMP as mmengine's ``AmpOptimWrapper`` runs it (``torch.autocast('cuda', torch.float16)``'s
cast policy, :mod:`~mmseg_rga.analysis.cuda_autocast`; fp32 parameters, gradients and optimizer
state); DDP's gradient buckets with ``gpus > 1`` (one more fp32 copy of the gradients:
``gradient_as_bucket_view=False`` is torch's and mmengine's default); the allocator's 512 B
rounding and its reuse of cached blocks (a block is split only if > 1 MiB would be left).

Not seen: cuDNN / cuBLAS workspaces (allocated through the same allocator inside a conv or a
GEMM, so counted by ``max_memory_allocated`` on a GPU; their size depends on the algorithm cuDNN
picks, and with ``cudnn_benchmark=True`` the first iterations try several), the CUDA context and
libraries and NCCL's buffers (not counted by ``max_memory_allocated``).
"""
import contextlib
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Sequence, Tuple

import torch

from ..checks import InputError
from ..compat import cpu_autocast_dtypes
from .cuda_allocator import CachingAllocator
from .cuda_autocast import cuda_autocast_policy
from .storage_trace import ALLOC, CATEGORIES, StorageTrace

ALLOCATOR = 'allocator rounding'
BREAKDOWN = CATEGORIES + (ALLOCATOR,)
DDP_BUCKET_MIB, DDP_FIRST_BUCKET_MIB = 25, 1  # torch DDP's bucket_cap_mb and first bucket


@dataclass
class MemoryEstimate:
    """Bytes. ``peak`` (what ``max_memory_allocated`` would report) = sum of ``breakdown``
    (the live storages per category at that moment, plus the allocator's rounding);
    ``reserved``: the allocator's peak of cudaMalloc'ed segments; ``tensors``: the peak of the
    summed storage sizes alone."""
    peak: int
    breakdown: Dict[str, int]
    reserved: int
    tensors: int
    params: int = 0  # parameters of the model (count, not bytes)
    seconds: float = 0.0
    notes: List[str] = field(default_factory=list)


def ddp_bucket_sizes(grad_bytes: int) -> List[int]:
    """DDP's gradient buckets for ``grad_bytes`` of gradients (1 MiB, then 25 MiB each;
    approximate: DDP splits at parameter boundaries)."""
    sizes, cap = [], DDP_FIRST_BUCKET_MIB << 20
    while grad_bytes > 0:
        sizes.append(min(cap, grad_bytes))
        grad_bytes -= sizes[-1]
        cap = DDP_BUCKET_MIB << 20
    return sizes


def replay(trace: StorageTrace, extra: Sequence[Tuple[int, str]] = (),
           iterations: int = 2) -> MemoryEstimate:
    """Replay ``trace`` (one step) ``iterations`` times after its persistent storages and the
    ``extra`` [(nbytes, tag)] allocations; the peak of the last iteration and its breakdown."""
    alloc = CachingAllocator()
    live = dict.fromkeys(BREAKDOWN, 0)
    persistent = [(trace.nbytes[sid], trace.tag[sid]) for sid in trace.persistent]
    for handle, (nbytes, tag) in enumerate(persistent + list(extra)):
        alloc.malloc(-1 - handle, nbytes)
        live[tag] += nbytes
    stride = len(trace.nbytes) + 1
    for it in range(iterations):
        last = it == iterations - 1
        alloc.reset_peak()
        peak, at_peak, tensors = alloc.allocated, dict(live), sum(live.values())
        for kind, sid in trace.events:
            nbytes = trace.nbytes[sid]
            if kind == ALLOC:
                alloc.malloc(it * stride + sid, nbytes)
            else:
                alloc.free(it * stride + sid)
                nbytes = -nbytes
            live[trace.tag[sid]] += nbytes
            if last and alloc.allocated > peak:
                peak, at_peak = alloc.allocated, dict(live)
            if last and nbytes > 0:
                tensors = max(tensors, sum(live.values()))
    at_peak[ALLOCATOR] = peak - sum(at_peak.values())
    return MemoryEstimate(peak, at_peak, alloc.peak_reserved, tensors)


@contextlib.contextmanager
def autocast(amp: bool):
    """``torch.autocast('cuda', torch.float16)`` as it casts, on CPU tensors; no-op if not amp."""
    if not amp:
        yield
        return
    if torch.float16 not in cpu_autocast_dtypes():
        raise InputError(f'--amp estimates run CPU autocast in float16, which torch '
                         f'{torch.__version__} lacks (its CPU autocast runs bfloat16 only; '
                         'torch 2.13 has both): estimate fp32 here, or AMP on a newer torch')
    with cuda_autocast_policy(), torch.autocast('cpu', dtype=torch.float16):
        yield


def trace_train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     loss_fn: Callable[[torch.nn.Module, bool], torch.Tensor],
                     amp: bool = False) -> StorageTrace:
    """Trace ``loss_fn(model, amp).backward()``, ``optimizer.step()`` and ``zero_grad()``.

    The optimizer state is created first (one step on zero gradients, not traced), as it is
    from the second iteration on. ``loss_fn`` makes its inputs and runs the forward pass
    (under :func:`autocast` when ``amp``); it runs inside the trace.
    """
    params = [p for group in optimizer.param_groups for p in group['params']]
    for group in optimizer.param_groups:
        group['foreach'] = True  # torch's default on CUDA: its temporaries are traced
    for p in params:
        p.grad = torch.zeros_like(p)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    trace = StorageTrace()
    trace.track(list(model.parameters()) + list(model.buffers()), 'parameters')
    trace.track([t for state in optimizer.state.values() for t in state.values()
                 if isinstance(t, torch.Tensor)], 'optimizer state')
    with trace:
        trace.phase = 'activations'
        loss = loss_fn(model, amp)
        trace.phase = 'temporaries'
        loss.backward()
        del loss
        trace.retag([p.grad for p in params if p.grad is not None], 'gradients')
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return trace


def trace_inference(model: torch.nn.Module, forward: Callable[[torch.nn.Module, bool], object],
                    amp: bool = False) -> StorageTrace:
    """Trace ``forward(model, amp)`` without gradients (its result is dropped)."""
    trace = StorageTrace()
    trace.track(list(model.parameters()) + list(model.buffers()), 'parameters')
    with trace, torch.no_grad():
        forward(model, amp)
    return trace


def timed(fn: Callable, *args, **kwargs):
    """``(fn(*args, **kwargs), seconds)``."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start
