"""Distributed training on hosts without CUDA (gloo), leaving GPU hosts untouched.

mmengine 0.10.7 assumes a GPU per process when ``launcher != 'none'``:

* ``init_dist`` calls ``torch.cuda.set_device(local_rank)`` before ``init_process_group``
  (pytorch, slurm and mpi launchers), which raises on a CPU-only torch;
* ``Runner.wrap_model`` builds ``MMDistributedDataParallel(device_ids=[LOCAL_RANK])``, which DDP
  rejects for a CPU module;
* mmseg's configs use ``SyncBN``, which has no CPU kernel.

:func:`setup_cpu_distributed` fixes all three *before* the Runner is built: it initialises the
default process group with gloo itself (``Runner.setup_env`` skips ``init_dist`` when
``torch.distributed.is_initialized()``), sets ``env_cfg.dist_cfg.backend='gloo'`` so the config
dumped into the work dir says what ran, sets ``model_wrapper_cfg.device_ids=None`` and turns
SyncBN into BN with a warning. On a host with CUDA it returns without changing anything.
"""
import contextlib
import logging
from typing import Any, Iterator, List

import torch
import torch.distributed as torch_dist

SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN', 'SyncBatchNorm', 'NaiveSyncBN')


def _print_log(msg: str, level: int = logging.INFO) -> None:
    from mmengine.logging import print_log
    print_log(msg, logger='current', level=level)


@contextlib.contextmanager
def _cuda_set_device_disabled() -> Iterator[None]:
    """Make ``torch.cuda.set_device`` a no-op (mmengine's launchers call it unconditionally)."""
    original = torch.cuda.set_device
    torch.cuda.set_device = lambda *args, **kwargs: None
    try:
        yield
    finally:
        torch.cuda.set_device = original


def revert_sync_bn_in_cfg(node: Any, path: str = 'model') -> List[str]:
    """Replace every SyncBN ``norm_cfg`` in a (nested) config by ``BN``, in place.

    Returns:
        list[str]: the dotted config paths that were changed.
    """
    changed = []
    if isinstance(node, dict):
        if node.get('type') in SYNC_BN_TYPES:
            node['type'] = 'BN'
            changed.append(path)
        for key, value in node.items():
            changed += revert_sync_bn_in_cfg(value, f'{path}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            changed += revert_sync_bn_in_cfg(value, f'{path}[{i}]')
    return changed


def setup_cpu_distributed(cfg) -> bool:
    """Prepare ``cfg`` and the process group for distributed training on a CPU host.

    Call after ``cfg.launcher`` is set and ``--cfg-options`` are merged, before
    ``Runner.from_cfg(cfg)``.

    Args:
        cfg (mmengine.Config): the full config; modified in place on a CPU host.

    Returns:
        bool: True if the CPU (gloo) path was taken, False if nothing was changed (not
        distributed, or CUDA is available).
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return False

    from mmengine.dist import init_dist

    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = dict(env_cfg.get('dist_cfg') or {})
    backend = dist_cfg.pop('backend', 'nccl')
    if backend != 'gloo':
        _print_log(
            f'No CUDA device: using the gloo backend for launcher={launcher!r} instead of '
            f'{backend!r}.', logging.WARNING)
    env_cfg['dist_cfg'] = dict(dist_cfg, backend='gloo')
    if not torch_dist.is_initialized():
        with _cuda_set_device_disabled():
            init_dist(launcher, backend='gloo', **dist_cfg)

    # DDP over a CPU module: device_ids must be None.
    wrapper_cfg = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper_cfg['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper_cfg

    changed = revert_sync_bn_in_cfg(cfg.get('model'))
    if cfg.get('sync_bn'):
        changed.append(f'sync_bn={cfg.sync_bn!r}')
        cfg.sync_bn = None
    if changed:
        _print_log(
            'No CUDA device: SyncBN cannot run on CPU, converted to BN (statistics are per '
            f'process, not synchronised) at: {", ".join(changed)}', logging.WARNING)
    return True


def teardown_cpu_distributed() -> None:
    """Destroy the gloo process group :func:`setup_cpu_distributed` created.

    Without it, interpreter shutdown with a live gloo group can abort a rank
    (``terminate called without an active exception``, SIGABRT) after the run has finished,
    and torchrun then reports the whole job as failed.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
