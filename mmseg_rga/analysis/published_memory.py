"""mmseg's published training memory (``Memory (GB)`` in its model zoo metafiles), read live.

mmseg's metafiles (``mmseg/.mim/configs/<method>/metafile.yaml`` of the installed package) give
``Memory (GB)`` per config: the ``memory`` field of the training log, i.e.
``torch.cuda.max_memory_allocated()`` in MiB (mmcv / mmengine divide by 1024 * 1024), from
mmseg's own runs (mmseg 0.x, 2020, 4 V100s, SyncBN, DDP). The metafile does not say how the
MiB became GB; :data:`GB_IS_GIB` takes GB = MiB / 1024 (GiB). If it were MiB / 1000
(``GB_IS_GIB = False``), every published figure would be 2.3 % smaller in GiB and every
estimate / published ratio 2.4 % larger.
"""
import os.path as osp
from typing import Dict, List, NamedTuple

import yaml

from ..checks import InputError

GB_IS_GIB = True
GIB = 1 << 30

# The configs the estimator is checked against: R-101-D8, Cityscapes, batch 2 per GPU; the
# last two are the AMP config and its fp32 counterpart.
VALIDATION_CONFIGS = (
    'fcn/fcn_r101-d8_4xb2-40k_cityscapes-769x769',
    'pspnet/pspnet_r101-d8_4xb2-40k_cityscapes-769x769',
    'deeplabv3/deeplabv3_r101-d8_4xb2-40k_cityscapes-769x769',
    'nonlocal_net/nonlocal_r101-d8_4xb2-40k_cityscapes-769x769',
    'danet/danet_r101-d8_4xb2-40k_cityscapes-769x769',
    'gcnet/gcnet_r101-d8_4xb2-40k_cityscapes-769x769',
    'pspnet/pspnet_r101-d8_4xb2-amp-80k_cityscapes-512x1024',
    'pspnet/pspnet_r101-d8_4xb2-40k_cityscapes-512x1024',
)


class Published(NamedTuple):
    name: str
    config: str  # path of the installed config file
    memory_gb: float  # as printed in the metafile
    resources: str  # 'Training Resources', e.g. '4x V100 GPUS'
    batch_size: int  # total over the GPUs

    @property
    def memory_bytes(self) -> int:
        return int(round(self.memory_gb * (GIB if GB_IS_GIB else 1000 * (1 << 20))))


def mmseg_configs_dir() -> str:
    """``.mim/configs`` of the installed mmseg."""
    import mmseg
    return osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs')


def read_metafile(path: str) -> Dict[str, dict]:
    """``Name -> model entry`` of one metafile."""
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    return {m['Name']: m for m in data.get('Models', [])}


def published_memory(method_and_name: str, configs_dir: str = None) -> Published:
    """The metafile entry of ``<method>/<config name>`` (e.g. 'pspnet/pspnet_r101-d8_...')."""
    configs_dir = configs_dir or mmseg_configs_dir()
    method, _, name = method_and_name.partition('/')
    metafile = osp.join(configs_dir, method, 'metafile.yaml')
    models = read_metafile(metafile) if osp.isfile(metafile) else {}
    if name not in models:
        raise InputError(f'{name} is not in {metafile}')
    meta = models[name].get('Metadata', {})
    if 'Memory (GB)' not in meta:
        raise InputError(f'{name} in {metafile} has no "Memory (GB)"')
    return Published(name, osp.join(configs_dir, method, name + '.py'),
                     float(meta['Memory (GB)']), str(meta.get('Training Resources', '')),
                     int(meta.get('Batch Size', 0)))


def validation_set(configs_dir: str = None) -> List[Published]:
    """:data:`VALIDATION_CONFIGS` with their published memory."""
    return [published_memory(n, configs_dir) for n in VALIDATION_CONFIGS]


