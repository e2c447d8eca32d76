"""Features of torch that differ across the supported range (torch 2.0 to 2.13), detected.

Each name here is the one place the plugin asks "does this torch have X": it tests for the
feature, not for a version, and :func:`require` turns a missing one into an :class:`InputError`
that names the torch release that added it.
"""
import importlib
import inspect
import warnings

import torch

from .checks import InputError


def _is_compiling_fn():
    compiler = getattr(torch, 'compiler', None)  # torch >= 2.3
    if callable(getattr(compiler, 'is_compiling', None)):
        return compiler.is_compiling
    with warnings.catch_warnings():  # torch 2.0's dynamo adds a warnings filter on import
        dynamo = importlib.import_module('torch._dynamo')  # torch < 2.3 only: ~0.5 s
    fn = getattr(dynamo, 'is_compiling', None)
    return fn if callable(fn) else (lambda: False)


#: ``torch.compiler.is_compiling`` where it exists, an older spelling, or a constant False.
is_compiling = _is_compiling_fn()


def in_export_trace() -> bool:
    """Whether torch.onnx is exporting (either exporter) or torch.jit is tracing: shapes are then
    values of the graph, and a Python number read from one would freeze it."""
    return bool(torch.onnx.is_in_onnx_export() or torch.jit.is_tracing())


def _release() -> tuple:
    major, minor = torch.__version__.split('+')[0].split('.')[:2]
    return int(major), int(minor)


#: Building modules under ``FakeTensorMode`` (the memory estimator) crashes the interpreter on
#: torch 2.0 and 2.1 (a segmentation fault, which no probe survives: hence a release check).
FAKE_TENSOR_TRACING = _release() >= (2, 2)
FAKE_TENSOR_NEEDS = ('the memory estimate (fake tensors crash torch 2.0 and 2.1; tested on 2.13)',
                     '2.2')

#: torch >= 2.4: the weights-only unpickler takes an allowlist (``add_safe_globals``).
HAS_SAFE_GLOBALS = hasattr(torch.serialization, 'add_safe_globals')


def cpu_autocast_dtypes() -> frozenset:
    """The dtypes CPU autocast runs in (torch 2.1: bf16 only; later releases add fp16)."""
    found = set()
    for dtype in (torch.bfloat16, torch.float16):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')  # torch warns and disables for a dtype it lacks
                with torch.autocast('cpu', dtype=dtype):
                    enabled = torch.is_autocast_cpu_enabled()
                    got = torch.get_autocast_cpu_dtype()
            if enabled and got == dtype:
                found.add(dtype)
        except (RuntimeError, TypeError):
            pass
    return frozenset(found)


def onnx_dynamo_export() -> bool:
    """torch >= 2.5: ``torch.onnx.export(..., dynamo=True)`` with ``torch.export.Dim``."""
    try:
        params = inspect.signature(torch.onnx.export).parameters
    except (TypeError, ValueError):
        return False
    return 'dynamo' in params and hasattr(getattr(torch, 'export', None), 'Dim')


def onnx_torchscript_kwargs() -> dict:
    """What selects torch.onnx's TorchScript exporter: ``dynamo=False`` where ``torch.onnx.export``
    takes ``dynamo`` (torch >= 2.5; True by default from torch 2.9), nothing before (torch < 2.5
    has only that exporter)."""
    try:
        params = inspect.signature(torch.onnx.export).parameters
    except (TypeError, ValueError):
        return {}
    return dict(dynamo=False) if 'dynamo' in params else {}


def require(available: bool, what: str, added_in: str) -> None:
    """Raise :class:`InputError` ``'<what> needs torch >= <added_in>; this is torch <ver>'``."""
    if not available:
        raise InputError(f'{what} needs torch >= {added_in}; this is torch {torch.__version__}')
