"""Every config in configs/rga loads offline, builds (SyncBN -> BN on CPU) and trains a step.

The full ResNet-101 of every distinct model is built; a training step (forward + backward) runs on
a 2x3x65x65 batch with the backbone depth lowered to 50 for CPU speed (the C5 map is then 9x9,
smaller than the 33x33 RGA nodes, so RoIAlign upsamples). The 40k and the short-named configs are
checked to build the same model as their 80k long-named config.
"""
import copy
import time
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from readme_tables import (
    block_params,
    config_param_lines,
    config_rounded_totals,
    millions,
    readme_config_table,
)

import mmseg_rga  # noqa: F401  (registers the modules)
from mmseg_rga.models import RGABlock, RGAHeadMixin, RGANeck
from mmseg_rga.tooling.dist import revert_sync_bn_in_cfg
from mmseg_rga.visualization import capture_gates

CONFIG_DIR = Path(__file__).resolve().parents[1] / 'configs' / 'rga'
CONFIGS = sorted(p.name for p in CONFIG_DIR.glob('*.py'))

# config -> (decode head type, neck type or None, schedule)
EXPECTED = {}
for _method, _head in [('fcn', 'FCNHead'), ('pspnet', 'PSPHead'), ('deeplabv3', 'ASPPHead')]:
    for _sched in ('40k', '80k'):
        EXPECTED[f'{_method}_r101-d8_4xb2-{_sched}_cityscapes-769x769.py'] = (_head, None, _sched)
        EXPECTED[f'{_method}-rga_r101-d8_4xb2-{_sched}_cityscapes-769x769.py'] = (
            f'RGA{_head}', None, _sched)
    EXPECTED[f'{_method}_rga_cityscapes.py'] = (f'RGA{_head}', None, '40k')
EXPECTED['fcn-rganeck_r101-d8_4xb2-80k_cityscapes-769x769.py'] = ('FCNHead', 'RGANeck', '80k')

# configs whose model is identical to another config's: forward/backward runs on the latter only
SAME_MODEL = {name: name.replace('40k', '80k') for name in EXPECTED if '40k' in name}
SAME_MODEL.update({
    'pspnet_rga_cityscapes.py': 'pspnet-rga_r101-d8_4xb2-80k_cityscapes-769x769.py',
    'deeplabv3_rga_cityscapes.py': 'deeplabv3-rga_r101-d8_4xb2-80k_cityscapes-769x769.py',
    'fcn_rga_cityscapes.py': 'fcn-rga_r101-d8_4xb2-80k_cityscapes-769x769.py',
})


def _load(name):
    cfg = Config.fromfile(str(CONFIG_DIR / name))  # also imports custom_imports
    model_cfg = copy.deepcopy(cfg.model.to_dict())
    model_cfg['pretrained'] = None
    model_cfg['backbone']['init_cfg'] = None
    revert_sync_bn_in_cfg(model_cfg)  # SyncBN needs a process group
    return cfg, model_cfg


def _build(model_cfg):
    init_default_scope('mmseg')
    return MODELS.build(model_cfg)


def _has_syncbn(cfg):
    if isinstance(cfg, dict):
        return cfg.get('type') == 'SyncBN' or any(_has_syncbn(v) for v in cfg.values())
    if isinstance(cfg, (list, tuple)):
        return any(_has_syncbn(v) for v in cfg)
    return False


def test_every_config_is_listed():
    assert set(CONFIGS) == set(EXPECTED), set(CONFIGS) ^ set(EXPECTED)


@pytest.mark.parametrize('name', CONFIGS)
def test_config_settings(name):
    head_type, neck_type, sched = EXPECTED[name]
    cfg, _ = _load(name)
    model = cfg.model
    assert model.decode_head.type == head_type
    assert model.get('neck', {}).get('type') == neck_type
    assert model.backbone.type == 'ResNetV1c' and model.backbone.depth == 101
    assert tuple(model.backbone.dilations) == (1, 1, 2, 4)
    assert tuple(model.backbone.strides) == (1, 2, 1, 1)
    assert model.decode_head.norm_cfg.type == 'SyncBN' and model.backbone.norm_cfg.type == 'SyncBN'
    assert model.decode_head.align_corners is True and model.auxiliary_head.align_corners is True
    assert model.auxiliary_head.type == 'FCNHead' and model.auxiliary_head.in_index == 2
    assert model.data_preprocessor.size == (769, 769)
    assert model.test_cfg == dict(mode='slide', crop_size=(769, 769), stride=(513, 513))
    assert cfg.train_cfg.max_iters == int(sched[:-1]) * 1000
    assert cfg.param_scheduler[0].end == int(sched[:-1]) * 1000
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.train_dataloader.dataset.type == 'CityscapesDataset'
    if 'RGA' in head_type or neck_type:
        assert cfg.custom_imports == dict(imports=['mmseg_rga'], allow_failed_imports=False)
    if head_type.startswith('RGA'):
        rga_cfg = model.decode_head.rga_cfg
        assert tuple(rga_cfg.pooled_size) == (33, 33) and rga_cfg.order == 'SC'
        assert 'norm_cfg' not in rga_cfg  # taken from the head: SyncBN
    if neck_type:
        neck_rga = model.neck.rga_cfg
        assert neck_rga.norm_cfg.type == 'SyncBN' and neck_rga.align_corners is True
        assert tuple(neck_rga.pooled_size) == (33, 33) and model.neck.in_index == 3
        assert model.decode_head.in_channels == 4096


@pytest.mark.parametrize('name', sorted(SAME_MODEL))
def test_same_model_as(name):
    """40k and short-named configs build the same model as the config they are checked against."""
    assert _load(name)[1] == _load(SAME_MODEL[name])[1]


def _data_samples(batch, shape, num_classes=19):
    samples = []
    for _ in range(batch):
        sample = SegDataSample()
        label = torch.randint(0, num_classes, (1, *shape))
        label[0, 0, :5] = 255  # some ignored pixels
        sample.gt_sem_seg = PixelData(data=label)
        sample.set_metainfo(dict(img_shape=shape, pad_shape=shape, ori_shape=shape))
        samples.append(sample)
    return samples


DISTINCT = sorted(n for n in CONFIGS if n not in SAME_MODEL)


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_readme_tables_agree_with_the_printed_counts():
    """Every rounded count in both READMEs is the exact count printed by the counting command
    (configs/rga/README.md), which test_build_full_model checks against the built models."""
    exact = config_param_lines()
    assert set(exact) == set(DISTINCT)
    rounded = config_rounded_totals()
    assert set(rounded) == set(DISTINCT)
    for name, (total, no_aux, rga) in exact.items():
        assert rounded[name] == (millions(total), millions(no_aux)), name
    table = readme_config_table()
    assert set(table) <= set(DISTINCT) and len(table) == 6
    for name, (total, rga) in table.items():
        assert (total, rga) == (millions(exact[name][0]), millions(exact[name][2])), name


@pytest.mark.parametrize('name', DISTINCT)
def test_build_full_model(name):
    """The config's own architecture (ResNet-101 D8) builds offline with the parameter counts
    the READMEs print; no forward (slow on CPU)."""
    head_type, neck_type, _ = EXPECTED[name]
    _, model_cfg = _load(name)
    assert not _has_syncbn(model_cfg)
    model = _build(model_cfg)
    assert len(model.backbone.layer3) == 23  # ResNet-101
    total, rga = _count(model), sum(_count(m) for m in model.modules() if isinstance(m, RGABlock))
    assert (total, total - _count(model.auxiliary_head), rga) == config_param_lines()[name]
    if head_type.startswith('RGA') or neck_type:  # one 33x33 RGA-SC block, as README.md lists
        assert rga == block_params()[(4 * 512 if neck_type else 512, 33)][2]
    if head_type.startswith('RGA'):
        head = model.decode_head
        assert isinstance(head, RGAHeadMixin)
        assert head.conv_seg.in_channels == 2 * head.channels == 1024
        assert isinstance(head.rga.spatial.theta.norm, torch.nn.BatchNorm2d)
        assert head.rga.pool.align_corners is True and head.rga.pooled_size == (33, 33)
    else:
        assert not any(type(m).__name__ == 'RGABlock' for m in model.decode_head.modules())
    if neck_type:
        assert isinstance(model.neck, RGANeck)
        assert model.neck.out_channels == [256, 512, 1024, 4096]
        assert model.neck.rga_blocks[0].pool.align_corners is True


@pytest.mark.slow  # ~5-15 s each on a shared 2-core CPU; still part of `make test`
@pytest.mark.parametrize('name', DISTINCT)
def test_forward_backward(name):
    """One training step on a 2x3x65x65 batch (C5 is 9x9, smaller than the 33x33 RGA nodes).

    The backbone depth is lowered to 50 for CPU speed (same channels and dilations as
    ResNet-101, fewer blocks in layer3); heads, neck and everything else are the config's.
    """
    head_type, neck_type, _ = EXPECTED[name]
    _, model_cfg = _load(name)
    model_cfg['backbone']['depth'] = 50
    start = time.perf_counter()
    model = _build(model_cfg)
    model.init_weights()
    model.train()
    torch.manual_seed(0)
    with capture_gates(model) as gates:
        losses = model.loss(torch.randn(2, 3, 65, 65), _data_samples(2, (65, 65)))
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(losses)
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss)
    loss.backward()
    rga = model.neck.rga_blocks[0] if neck_type else getattr(model.decode_head, 'rga', None)
    if rga is not None:
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in rga.parameters())
        (gate, ) = gates.values()
        assert gate['spatial'].shape == (2, 1, 9, 9)  # C5 at 65 px, output stride 8
        assert gate['channel'].shape == (2, rga.in_channels)
    model.eval()
    with torch.no_grad():
        logits = model._forward(torch.randn(1, 3, 65, 65))
    assert logits.shape == (1, 19, 9, 9)
    print(f'\n{name}: build + forward + backward {time.perf_counter() - start:.1f}s')
