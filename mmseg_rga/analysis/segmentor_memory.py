"""The memory estimate of an mmseg config: its model, data, loss and optimizer, on fake tensors.

:func:`estimate_config` builds the config's segmentor (SyncBN -> BN, no pretrained weights)
and its optimizer (``optim_wrapper.optimizer``, with its ``paramwise_cfg``) inside a
``FakeTensorMode``, makes a batch of uint8 images and int64 label maps as mmseg's
``PackSegInputs`` does, and traces what mmengine's ``BaseModel.train_step`` runs: the data
preprocessor and the loss forward (under autocast with ``amp``, as ``AmpOptimWrapper`` does),
``parse_losses``, backward, the optimizer step and ``zero_grad``. Inference (``whole`` or
``slide``) traces ``test_step``'s preprocessor + ``predict`` for one image.
"""
import copy
import os.path as osp
import traceback
from typing import Sequence

import torch
from torch._subclasses.fake_tensor import (
    DataDependentOutputException,
    DynamicOutputShapeException,
    FakeTensorMode,
)

from ..checks import InputError
from ..compat import FAKE_TENSOR_NEEDS, FAKE_TENSOR_TRACING, require
from .memory_estimate import (
    MemoryEstimate,
    autocast,
    ddp_bucket_sizes,
    replay,
    timed,
    trace_inference,
    trace_train_step,
)

MODES = ('train', 'whole', 'slide')
_HERE = osp.dirname(osp.abspath(__file__))


def _model_cfg(cfg):
    from mmseg_rga.tooling.dist import revert_sync_bn_in_cfg

    model_cfg = copy.deepcopy(cfg.model)
    revert_sync_bn_in_cfg(model_cfg)
    model_cfg['pretrained'] = None
    if model_cfg.get('backbone', {}).get('init_cfg') is not None:
        model_cfg['backbone']['init_cfg'] = None
    return model_cfg


def build_segmentor(cfg, mode: str = 'train'):
    """The config's segmentor, SyncBN as BN; ``mode`` sets ``test_cfg.mode`` for inference."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model_cfg = _model_cfg(cfg)
    if mode in ('whole', 'slide'):
        test_cfg = dict(model_cfg.get('test_cfg') or {})
        if mode == 'slide' and not {'crop_size', 'stride'} <= set(test_cfg):
            raise InputError('--mode slide needs crop_size and stride in the config\'s '
                             f'model.test_cfg; it has {test_cfg}')
        test_cfg['mode'] = mode
        model_cfg['test_cfg'] = test_cfg
    model = MODELS.build(model_cfg)
    return model.train() if mode == 'train' else model.eval()


def build_optimizer(cfg, model):
    """``cfg.optim_wrapper``'s optimizer (an ``AmpOptimWrapper`` is built as ``OptimWrapper``:
    the estimator applies autocast itself)."""
    from mmengine.optim import build_optim_wrapper

    wrapper_cfg = copy.deepcopy(cfg.optim_wrapper)
    wrapper_cfg['type'] = 'OptimWrapper'
    for key in ('loss_scale', 'dtype', 'use_fsdp'):
        wrapper_cfg.pop(key, None)
    return build_optim_wrapper(model, wrapper_cfg).optimizer


def make_batch(batch_size: int, shape: Sequence[int], num_classes: int, labels: bool):
    """A batch as ``PackSegInputs`` makes it: uint8 (3, H, W) images, int64 (1, H, W) labels."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    height, width = shape
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(torch.randint(0, 256, (3, height, width), dtype=torch.uint8))
        sample = SegDataSample(metainfo=dict(img_shape=(height, width), ori_shape=(height, width),
                                             scale_factor=(1.0, 1.0), flip=False))
        if labels:
            sample.gt_sem_seg = PixelData(
                data=torch.randint(0, num_classes, (1, height, width), dtype=torch.long))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def estimate_config(cfg, mode: str = 'train', amp: bool = False, batch_size: int = 2,
                    shape: Sequence[int] = (769, 769), gpus: int = 1) -> MemoryEstimate:
    """Peak GPU memory of one ``mode`` iteration of ``cfg`` (see the module docstring)."""
    require(FAKE_TENSOR_TRACING, *FAKE_TENSOR_NEEDS)
    if mode not in MODES:
        raise InputError(f'mode must be one of {MODES}; got {mode!r}')
    if batch_size < 1 or min(shape) < 1 or gpus < 1:
        raise InputError(f'batch size, shape and gpus must be positive; got {batch_size}, '
                         f'{tuple(shape)}, {gpus}')
    try:
        with FakeTensorMode():
            (trace, extra, params), seconds = timed(_trace, cfg, mode, amp, batch_size, shape,
                                                    gpus)
    except DataDependentOutputException as err:  # e.g. MixVisionTransformer's dpr .item()
        raise InputError(f'this model reads tensor values while it is built or run'
                         f'{_caller(err)}, which fake tensors cannot trace: no estimate for it'
                         ) from err
    except DynamicOutputShapeException as err:  # e.g. torch.unique: no largest size to assume
        raise InputError(f'this model runs {err.args[0] if err.args else "an op"}{_caller(err)}, '
                         'whose output size depends on tensor values, which fake tensors cannot '
                         'size (only nonzero and boolean-mask indexing are given their largest '
                         'result): no estimate for it') from err
    estimate, replay_seconds = timed(replay, trace, extra)
    estimate.seconds, estimate.params = seconds + replay_seconds, params
    return estimate


def _caller(err: BaseException) -> str:
    """' (file:line)' of the innermost frame outside torch and this package's tracing that
    led to ``err``."""
    where = traceback.extract_tb(err.__traceback__)
    caller = next((f for f in reversed(where) if 'torch' not in f.filename.split('/')
                   and osp.dirname(osp.abspath(f.filename)) != _HERE), None)
    return f' ({caller.filename}:{caller.lineno})' if caller else ''


def _trace(cfg, mode, amp, batch_size, shape, gpus):
    model = build_segmentor(cfg, mode)
    params = sum(p.numel() for p in model.parameters())
    num_classes = model.decode_head.num_classes
    if mode != 'train':
        def forward(m, use_amp):
            data = make_batch(batch_size, shape, num_classes, labels=False)
            with autocast(use_amp):
                data = m.data_preprocessor(data, False)
                m(**data, mode='predict')
        return trace_inference(model, forward, amp), [], params

    def loss_fn(m, use_amp):
        data = make_batch(batch_size, shape, num_classes, labels=True)
        with autocast(use_amp):
            data = m.data_preprocessor(data, True)
            losses = m(**data, mode='loss')
        loss, _ = m.parse_losses(losses)
        return loss

    optimizer = build_optimizer(cfg, model)
    trace = trace_train_step(model, optimizer, loss_fn, amp)
    grad_bytes = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    extra = [(n, 'gradients') for n in ddp_bucket_sizes(grad_bytes)] if gpus > 1 else []
    return trace, extra, params
