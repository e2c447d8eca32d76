"""Time and peak memory of a config's model on a device, as ``tools/analysis_tools/gpu_check.py``
reports them next to the memory estimator's numbers.

* :func:`train_iteration`: training iterations through mmengine's ``train_step`` (data
  preprocessor, loss, the config's optimizer wrapper, fp32 or AMP);
* :func:`inference_time`: ``test_step`` on one image (data preprocessor, ``predict`` with the
  config's ``test_cfg``, ``whole`` or ``slide``), as a test run spends it per image.

Seconds are wall-clock, the device synchronized before each clock read; the first iteration (or
call) is a warm-up and is not timed: it allocates the optimizer state and runs cuDNN's benchmark
when the config turns it on, as mmseg's Cityscapes configs do. The peak is
``torch.cuda.max_memory_allocated`` of the last iteration (call) alone, as mmengine's log
reports it; None off CUDA.
"""
import copy
import math
import time
from typing import Dict, Optional, Sequence

import torch

from .device_checks import build_model, random_batch

clock = time.perf_counter  # the wall clock the times are read from


def _cuda(device: str) -> bool:
    return str(device).startswith('cuda')


def _sync(device: str) -> float:
    """The clock, read after the device finished its queued work."""
    if _cuda(device):
        torch.cuda.synchronize(device)
    return clock()


def _reset_peak(device: str) -> None:
    if _cuda(device):
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def _peak(device: str) -> Optional[int]:
    if not _cuda(device):
        return None
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device)


def _use_cudnn_benchmark(cfg, device: str) -> None:
    if _cuda(device):
        torch.backends.cudnn.benchmark = bool(cfg.get('env_cfg', {}).get('cudnn_benchmark'))


def train_iteration(config, device: str, amp: bool = False, batch: int = 2,
                    size: Sequence[int] = (769, 769), iters: int = 3,
                    cfg_options: Optional[dict] = None) -> Dict[str, object]:
    """``iters`` (>= 2) training iterations of the config's model (its optimizer, fp32 or AMP).

    Returns the losses, whether they are finite, ``seconds_per_iter`` (the mean over the
    iterations after the first) and ``peak_bytes`` (the last iteration's).
    """
    from mmengine.optim import build_optim_wrapper

    if iters < 2:
        raise ValueError(f'iters must be >= 2 (the first is not timed); got {iters}')
    cfg, model = build_model(config, cfg_options)
    model.to(device).train()
    _use_cudnn_benchmark(cfg, device)
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    if amp:
        optim_cfg.update(type='AmpOptimWrapper', loss_scale='dynamic')
    optim_wrapper = build_optim_wrapper(model, optim_cfg)
    batches, losses, start = [random_batch(batch, size, seed=it) for it in range(iters)], [], None
    for it, data in enumerate(batches):
        _reset_peak(device)
        if it == 1:
            start = _sync(device)
        log_vars = model.train_step(data, optim_wrapper)
        losses.append(float(torch.as_tensor(log_vars['loss']).detach()))
    seconds = (_sync(device) - start) / (iters - 1)
    return dict(losses=losses, finite=all(math.isfinite(v) for v in losses),
                seconds_per_iter=seconds, peak_bytes=_peak(device))


def inference_time(config, device: str, mode: str = 'whole', size: Sequence[int] = (1024, 2048),
                   repeats: int = 2, cfg_options: Optional[dict] = None) -> Dict[str, object]:
    """``test_step`` on one ``size`` image with ``model.test_cfg.mode = mode``, once to warm up,
    then ``repeats`` times: ``seconds_per_image`` (their mean) and ``peak_bytes`` (the last)."""
    from mmseg_rga.analysis.segmentor_memory import make_batch

    if mode not in ('whole', 'slide') or repeats < 1:
        raise ValueError(f"mode must be 'whole' or 'slide' and repeats >= 1; got {mode!r}, "
                         f'{repeats}')
    options = dict(cfg_options or {}, **{'model.test_cfg.mode': mode})
    cfg, model = build_model(config, options)
    model.to(device).eval()
    _use_cudnn_benchmark(cfg, device)
    num_classes = model.decode_head.num_classes
    with torch.no_grad():
        model.test_step(make_batch(1, size, num_classes, labels=False))
        elapsed = 0.0
        for _ in range(repeats):
            data = make_batch(1, size, num_classes, labels=False)
            _reset_peak(device)
            start = _sync(device)
            model.test_step(data)
            elapsed += _sync(device) - start
    return dict(seconds_per_image=elapsed / repeats, peak_bytes=_peak(device))
