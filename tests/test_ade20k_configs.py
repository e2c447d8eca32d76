"""configs/rga/ade20k: beyond Cityscapes, on images of every size and aspect ratio.

Each config is mmseg's own plus the RGA head (nothing else differs), loads offline, and, shrunk
through config options as a user would (tiny backbone and head widths), trains two iterations
with the Runner on generated ADE20K-layout data and runs whole-image inference on validation
images of four sizes and aspect ratios (64x85, 85x64, 64x64, 64x128), after the tools' data
checks. The configured 32x32 nodes meet maps of every size whole ADE20K images give.
"""
import copy
import re
from pathlib import Path

import mmseg
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_rga  # noqa: F401  (registers the modules)
from mmseg_rga.datasets.synthetic import generate_synthetic_ade20k
from mmseg_rga.tooling import check_data, revert_sync_bn_in_cfg
from mmseg_rga.tooling.synthetic_data import synthetic_layout, use_synthetic_ade20k

DIR = Path(__file__).resolve().parents[1] / 'configs' / 'rga' / 'ade20k'
MMSEG_CONFIGS = Path(mmseg.__file__).parent / '.mim' / 'configs'
SHORT = 64
VAL_SHAPES = [(64, 85), (85, 64), (64, 64), (64, 128)]
_R18 = {'model.backbone.depth': 18, 'model.backbone.stem_channels': 8,
        'model.backbone.base_channels': 8}  # levels of 8, 16, 32, 64 channels
_AUX = {'model.auxiliary_head.in_channels': 32, 'model.auxiliary_head.channels': 8}
# config -> (mmseg base, decode head, options that shrink it)
CONFIGS = {
    'pspnet-rga_r101-d8_4xb4-80k_ade20k-512x512.py': (
        'pspnet/pspnet_r101-d8_4xb4-80k_ade20k-512x512.py', 'RGAPSPHead',
        {**_R18, **_AUX, 'model.decode_head.in_channels': 64, 'model.decode_head.channels': 16,
         'model.decode_head.pool_scales': (1, 2)}),
    'deeplabv3-rga_r101-d8_4xb4-80k_ade20k-512x512.py': (
        'deeplabv3/deeplabv3_r101-d8_4xb4-80k_ade20k-512x512.py', 'RGAASPPHead',
        {**_R18, **_AUX, 'model.decode_head.in_channels': 64, 'model.decode_head.channels': 16,
         'model.decode_head.dilations': (1, 2)}),
    'upernet-rga_r50_4xb4-80k_ade20k-512x512.py': (
        'upernet/upernet_r50_4xb4-80k_ade20k-512x512.py', 'RGAUPerHead',
        {**_R18, **_AUX, 'model.decode_head.in_channels': [8, 16, 32, 64],
         'model.decode_head.channels': 16, 'model.decode_head.pool_scales': (1, 2)}),
    'segformer-rga_mit-b0_8xb2-160k_ade20k-512x512.py': (
        'segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py', 'RGASegformerHead',
        {'model.backbone.num_layers': [1, 1, 1, 1], 'model.decode_head.channels': 16}),
}
RUN = {'train_cfg.max_iters': 2, 'val_cfg': None, 'val_dataloader': None, 'val_evaluator': None,
       'default_hooks.logger.interval': 1, 'default_hooks.checkpoint.save_last': False,
       'randomness': dict(seed=0)}
for _loader in ('train_dataloader', 'test_dataloader'):
    RUN.update({f'{_loader}.num_workers': 0, f'{_loader}.persistent_workers': False})
RUN['train_dataloader.batch_size'] = 2


pytestmark = pytest.mark.usefixtures('one_thread')


def _load(name):
    return Config.fromfile(str(DIR / name))


def _unscoped(node):
    """A config node as plain data without the ``_scope_`` keys ``mmseg::`` inheritance adds."""
    if isinstance(node, dict):
        return {k: _unscoped(v) for k, v in node.items() if k != '_scope_'}
    if isinstance(node, (list, tuple)):
        return type(node)(_unscoped(v) for v in node)
    return node


def test_every_config_is_listed():
    assert {p.name for p in DIR.glob('*.py')} == set(CONFIGS)


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_only_the_head_differs_from_mmsegs_config(name):
    base, head, _ = CONFIGS[name]
    cfg, ours = _load(name), (DIR / name).read_text()
    assert f"_base_ = ['mmseg::{base}']" in ours
    assert cfg.custom_imports == dict(imports=['mmseg_rga'], allow_failed_imports=False)
    mmseg_cfg = Config.fromfile(str(MMSEG_CONFIGS / base))
    model = _unscoped(cfg.model.to_dict())
    assert model['decode_head'].pop('type') == head
    rga_cfg = model['decode_head'].pop('rga_cfg')
    assert (tuple(rga_cfg.pop('pooled_size')), rga_cfg) == ((32, 32), dict(order='SC'))
    expected = mmseg_cfg.model.to_dict()
    expected['decode_head'].pop('type')
    assert model == expected
    for key in ('train_dataloader', 'test_dataloader', 'train_cfg', 'optim_wrapper'):
        assert _unscoped(cfg[key]) == _unscoped(mmseg_cfg[key]), key
    assert cfg.test_dataloader.dataset.type == 'ADE20KDataset' and synthetic_layout(cfg) == 'ade20k'
    assert cfg.model.test_cfg == dict(mode='whole')


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_configured_nodes_meet_every_aspect_ratio(name):
    """The decode head as configured (512 channels shrunk to 16; 32x32 nodes) on the maps whole
    test images give: smaller than the nodes, equal, larger, landscape, portrait, 1:4."""
    head_cfg = copy.deepcopy(_load(name).model.decode_head.to_dict())
    single = isinstance(head_cfg['in_channels'], int)
    levels = 1 if single else 4
    head_cfg.update(in_channels=1 if single else [1] * 4, in_index=0 if single else [0, 1, 2, 3],
                    channels=16, norm_cfg=dict(type='BN'))
    init_default_scope('mmseg')
    head = MODELS.build(head_cfg).eval()
    seen = []
    head.rga.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape[-2:])))
    for h, w in ((16, 21), (32, 32), (64, 85), (85, 64), (64, 256)):
        feats = [torch.randn(1, 1, h // 2**i, w // 2**i) for i in range(levels)]
        with torch.no_grad():
            logits = head(feats)
        assert torch.isfinite(logits).all() and logits.shape[:2] == (1, 150)
        assert seen[-1] == tuple(logits.shape[-2:])


@pytest.fixture(scope='module')
def ade_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic_ade20k')
    info = generate_synthetic_ade20k(str(root), num_train=2, num_val=4, short_side=SHORT)
    assert info['shapes']['val'] == VAL_SHAPES
    return str(root)


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_trains_two_iterations_and_infers_whole_images(name, ade_root, tmp_path):
    from mmengine.runner import Runner
    cfg = use_synthetic_ade20k(_load(name), ade_root, SHORT, no_pretrained=True)
    cfg.merge_from_dict({**CONFIGS[name][2], **RUN, 'work_dir': str(tmp_path)})
    revert_sync_bn_in_cfg(cfg.model)
    check_data(cfg, ['train_dataloader', 'test_dataloader'], num_label_files=-1)
    runner = Runner.from_cfg(cfg)
    seen = []
    runner.model.decode_head.rga.register_forward_hook(
        lambda m, i, o: seen.append(tuple(i[0].shape[-2:])))
    runner.train()
    stride = 8 if '-d8_' in name else 4
    assert runner.iter == 2 and seen == [(SHORT // stride, SHORT // stride)] * 2
    seen.clear()
    metrics = runner.test()
    assert 0.0 <= metrics['mIoU'] <= 100.0
    assert seen == [(-(-h // stride), -(-w // stride)) for h, w in VAL_SHAPES]


def readme_rows():
    """configs/rga/ade20k/README.md's table: config -> (params M, RGA overhead M)."""
    text = (Path(__file__).resolve().parents[1] / 'configs/rga/ade20k/README.md').read_text()
    rows = re.findall(r'^\| `configs/rga/ade20k/(\S+\.py)` \| `RGA\w+` \| ([\d.]+)M \| '
                      r'\+([\d.]+)M ', text, flags=re.M)
    return {name: (float(total), float(extra)) for name, total, extra in rows}


def test_readme_rows_are_the_built_models():
    """The full models (ResNet-101/50, MiT-B0; SyncBN -> BN) have the parameters the table lists:
    the mmseg model plus one RGA-SC block and 512 (256) more classifier inputs per class."""
    rows = readme_rows()
    assert set(rows) == set(CONFIGS)
    for name, (total, extra) in rows.items():
        model_cfg = copy.deepcopy(_load(name).model)
        model_cfg.update(pretrained=None)
        model_cfg.backbone.init_cfg = None
        revert_sync_bn_in_cfg(model_cfg)
        init_default_scope('mmseg')
        model = MODELS.build(model_cfg)
        head = model.decode_head
        overhead = _count(head.rga) + head.channels * head.out_channels
        assert (round(_count(model) / 1e6, 2), round(overhead / 1e6, 2)) == (total, extra), name


def _count(module):
    return sum(p.numel() for p in module.parameters())
