"""``torch.autocast('cuda', torch.float16)``'s cast policy, run on CPU (fake) tensors.

A CPU-only torch can make fake CUDA tensors, but autograd cannot run on them (it needs a CUDA
device guard), so the estimator traces CPU fake tensors under ``torch.autocast('cpu',
torch.float16)``. CPU autocast casts the same ops to fp16 (convolutions, matmuls) but runs
in fp16 what CUDA autocast runs in fp32 (upsampling, softmax, sum, exp, pow, norms...), and
does the opposite for a few ops (``cross_entropy_loss``). That changes memory: on CUDA the
PPM's upsampled pools and the upsampled logits are fp32. :func:`cuda_autocast_policy`
registers, for as long as it is entered, AutocastCPU kernels that apply CUDA's policy
(``aten/src/ATen/autocast_mode.cpp``: ``AT_FORALL_FP32``, ``AT_FORALL_FP32_SET_OPT_DTYPE``,
``AT_FORALL_PROMOTE``); the CPU list's ``lower_precision_fp`` ops are CUDA's.
"""
import contextlib
import warnings
from typing import Iterator

import torch
from torch.utils._pytree import tree_map_only

# CUDA: run in fp32 (inputs cast up). The ops of AT_FORALL_FP32 that segmentors can reach.
FP32_OPS = (
    'acos', 'asin', 'cosh', 'erfinv', 'exp', 'expm1', 'log', 'log10', 'log2', 'log1p',
    'reciprocal', 'rsqrt', 'sinh', 'tan', 'pow.Tensor_Scalar', 'pow.Tensor_Tensor', 'pow.Scalar',
    'softplus', 'layer_norm', 'native_layer_norm', 'group_norm', 'cosine_similarity',
    'nll_loss', 'nll_loss2d', 'nll_loss_nd', 'kl_div', 'l1_loss', 'smooth_l1_loss', 'huber_loss',
    'mse_loss', 'binary_cross_entropy_with_logits', 'dist', 'cdist', 'renorm', 'logsumexp',
    'upsample_nearest1d', 'upsample_nearest2d', 'upsample_nearest3d', 'upsample_linear1d',
    'upsample_bilinear2d', 'upsample_trilinear3d', 'upsample_bicubic2d',
    '_upsample_nearest_exact2d', '_upsample_bilinear2d_aa')
# CUDA: the output dtype is fp32 (``dtype=torch.float32``), the input is read as it is.
FP32_OUT_OPS = ('softmax.int', 'log_softmax.int', 'sum', 'sum.dim_IntList', 'prod',
                'cumsum', 'cumprod', 'linalg_vector_norm')
# CUDA: the widest floating input dtype.
PROMOTE_OPS = ('addcdiv', 'addcmul', 'atan2', 'cross', 'dot', 'grid_sampler', 'index_put',
               'scatter_add')
# CPU-only fp32 ops that CUDA leaves alone (decomposed below autocast on CUDA).
PASSTHROUGH_OPS = ('cross_entropy_loss',)

_KEY = torch._C.DispatchKey.AutocastCPU


def _op(name: str):
    base, _, overload = name.partition('.')
    return getattr(getattr(torch.ops.aten, base), overload or 'default')


def _cast(tensors, dtype):
    return tree_map_only(torch.Tensor, lambda t: t.to(dtype) if (
        t.is_floating_point() and t.dtype != torch.float64 and t.dtype != dtype) else t, tensors)


def _no_autocast():
    return torch._C._ExcludeDispatchKeyGuard(torch._C.DispatchKeySet(_KEY))


def _fp32(op):
    def kernel(*args, **kwargs):
        with _no_autocast():
            return op(*_cast(args, torch.float32), **_cast(kwargs, torch.float32))
    return kernel


def _fp32_out(op):
    names = [a.name for a in op._schema.arguments]
    where = names.index('dtype')

    def kernel(*args, **kwargs):
        with _no_autocast():
            if args[0].dtype == torch.float16:
                if where < len(args):
                    if args[where] is None:
                        args = args[:where] + (torch.float32,) + args[where + 1:]
                elif kwargs.get('dtype') is None:
                    kwargs = dict(kwargs, dtype=torch.float32)
            return op(*args, **kwargs)
    return kernel


def _promote(op):
    def kernel(*args, **kwargs):
        floats = [t.dtype for t in torch.utils._pytree.tree_flatten((args, kwargs))[0]
                  if isinstance(t, torch.Tensor) and t.is_floating_point()]
        dtype = torch.float32 if torch.float32 in floats else torch.float16
        with _no_autocast():
            return op(*_cast(args, dtype), **_cast(kwargs, dtype))
    return kernel


def _cross_entropy(input, target, weight=None, reduction=1, ignore_index=-100,
                   label_smoothing=0.0):
    """CUDA's path: ``log_softmax`` (fp32 output from fp16 input) then ``nll_loss_nd``."""
    if label_smoothing:
        with _no_autocast():
            return torch.ops.aten.cross_entropy_loss(
                *_cast((input, target, weight), torch.float32), reduction, ignore_index,
                label_smoothing)
    logp = torch.log_softmax(input, 1)
    return torch.ops.aten.nll_loss_nd(logp, target, weight, reduction, ignore_index)


@contextlib.contextmanager
def cuda_autocast_policy() -> Iterator[None]:
    """Within: ``torch.autocast('cpu', dtype=torch.float16)`` casts as CUDA autocast does."""
    lib = torch.library.Library('aten', 'IMPL')  # noqa: TOR901  (destroyed on exit)
    try:
        with warnings.catch_warnings():  # 'Overriding a previously registered kernel'
            warnings.simplefilter('ignore', UserWarning)
            _register(lib)
        yield
    finally:
        lib._destroy()


def _register(lib) -> None:
    for names, wrap in ((FP32_OPS, _fp32), (FP32_OUT_OPS, _fp32_out),
                            (PROMOTE_OPS, _promote)):
        for name in names:
            lib.impl(name, wrap(_op(name)), 'AutocastCPU')
    lib.impl('cross_entropy_loss', _cross_entropy, 'AutocastCPU')
