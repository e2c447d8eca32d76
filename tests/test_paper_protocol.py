"""configs/rga/paper_protocol: Table 6 on OCNet's recipe, and the class-weighted loss it needs.

Fast: every row loads offline and states the recipe (schedule, loss, class weights, augmentation,
heads, RGA at 97x97 nodes, whole-image test); the loss equals torch's weighted cross-entropy.
Slow: every row builds with the full ResNet-101 (SyncBN -> BN), trains one step (2x3x97x97) and
runs whole-image inference on a generated 1024x2048 street scene.
"""
import copy
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_rga  # noqa: F401  (registers the modules)
from mmseg_rga.tooling.dist import revert_sync_bn_in_cfg

DIR = Path(__file__).resolve().parents[1] / 'configs' / 'rga' / 'paper_protocol'
SUFFIX = '_r101-d8_4xb2-40k_cityscapes-769x769.py'
# row -> (decode head, has RGA in the head, has RGANeck, has OCNet's DSN auxiliary head)
ROWS = {}
for _base, _head, _dsn in (('ocnet-baseline', 'FCNHead', False), ('pspnet', 'PSPHead', True),
                           ('deeplabv3', 'ASPPHead', True)):
    ROWS[_base] = (_head, False, False, _dsn)
    ROWS[f'{_base}-rga'] = ('RGA' + _head, True, False, _dsn)
    ROWS[f'{_base}-rganeck'] = (_head, False, True, _dsn)
# OCNet utils/criterion.py:23
OCNET_WEIGHTS = [0.8373, 0.918, 0.866, 1.0345, 1.0166, 0.9969, 0.9754, 1.0489, 0.8786, 1.0023,
                 0.9539, 0.9843, 1.1116, 0.9037, 1.0865, 1.0955, 1.0865, 1.1529, 1.0507]


def _cfg(row):
    return Config.fromfile(str(DIR / (row + SUFFIX)))


def _build(cfg):
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.pretrained = None
    assert revert_sync_bn_in_cfg(model_cfg)  # there was SyncBN to replace
    init_default_scope('mmseg')
    return MODELS.build(model_cfg)


def test_every_row_is_listed():
    rows = {p.name[:-len(SUFFIX)] for p in DIR.glob('*.py') if not p.name.startswith('_')}
    assert rows == set(ROWS)


@pytest.mark.parametrize('row', sorted(ROWS))
def test_recipe(row):
    head, rga_head, neck, dsn = ROWS[row]
    cfg = _cfg(row)
    model = cfg.model
    assert model.decode_head.type == head
    assert model.backbone.depth == 101 and tuple(model.backbone.dilations) == (1, 1, 2, 4)
    assert model.backbone.contract_dilation is False
    assert dict(model.test_cfg) == dict(mode='whole')
    assert cfg.train_cfg.max_iters == 40000 and cfg.train_dataloader.batch_size == 2
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == ('SGD', 0.01, 0.9, 0.0005)
    sched = cfg.param_scheduler[0]
    assert (sched.type, sched.eta_min, sched.power, sched.end) == ('PolyLR', 0.0, 0.9, 40000)
    for loss, weight in [(model.decode_head.loss_decode, 1.0)] + (
            [(model.auxiliary_head.loss_decode, 0.4)] if dsn else []):
        assert loss.type == 'ClassWeightedCrossEntropyLoss' and loss.loss_weight == weight
        assert list(loss.class_weight) == OCNET_WEIGHTS
    assert (model.get('auxiliary_head') is not None) == dsn
    steps = {t.type: t for t in cfg.train_dataloader.dataset.pipeline}
    assert 'PhotoMetricDistortion' not in steps
    assert tuple(steps['RandomResize'].ratio_range) == (0.5, 2.1)
    assert steps['RandomCrop'].cat_max_ratio == 1.0
    assert tuple(steps['RandomCrop'].crop_size) == (769, 769)
    assert cfg.test_dataloader.dataset.data_prefix.img_path == 'leftImg8bit/val'
    if row.startswith('ocnet-baseline'):
        h = model.decode_head
        assert (h.num_convs, h.kernel_size, h.concat_input, h.dropout_ratio) == (1, 3, False, 0.05)
        assert h.act_cfg == dict(type='LeakyReLU', negative_slope=0.01)
    if rga_head:
        assert tuple(model.decode_head.rga_cfg.pooled_size) == (97, 97)
    assert (model.get('neck') is not None) == neck
    if neck:
        assert tuple(model.neck.rga_cfg.pooled_size) == (97, 97) and model.neck.in_index == 3
        assert model.neck.rga_cfg.align_corners is True
        assert model.decode_head.in_channels == 4096


def test_97_nodes_are_the_c5_map_of_a_769_crop():
    """So the RoIAlign step is the identity on training crops (same strides/dilations/stem)."""
    backbone = copy.deepcopy(_cfg('pspnet-rga').model.backbone)
    backbone.update(depth=18, stem_channels=8, base_channels=8, norm_cfg=dict(type='BN'))
    init_default_scope('mmseg')
    net = MODELS.build(backbone)
    net.eval()
    with torch.no_grad():
        c5 = net(torch.zeros(1, 3, 769, 769))[-1]
    assert tuple(c5.shape[-2:]) == (97, 97)


def test_train_split_evaluation_override(tmp_path):
    from mmseg_rga.datasets.synthetic import generate_synthetic_cityscapes
    generate_synthetic_cityscapes(str(tmp_path), num_train=3, num_val=1, image_size=(64, 128))
    cfg = _cfg('ocnet-baseline')
    cfg.merge_from_dict({
        'test_dataloader.dataset.data_root': str(tmp_path),
        'test_dataloader.dataset.data_prefix.img_path': 'leftImg8bit/train',
        'test_dataloader.dataset.data_prefix.seg_map_path': 'gtFine/train'})
    init_default_scope('mmseg')
    from mmseg.registry import DATASETS
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    assert len(dataset) == 3 and '/train/' in dataset[0]['data_samples'].img_path


def test_class_weighted_loss_is_torchs_weighted_mean():
    from mmseg_rga.models import ClassWeightedCrossEntropyLoss
    torch.manual_seed(0)
    logits = torch.randn(2, 19, 6, 7, dtype=torch.float64)
    label = torch.randint(0, 19, (2, 6, 7))
    label[0, :2] = 255
    loss = ClassWeightedCrossEntropyLoss(OCNET_WEIGHTS, loss_weight=0.4)
    expected = torch.nn.CrossEntropyLoss(weight=torch.tensor(OCNET_WEIGHTS, dtype=torch.float64),
                                         ignore_index=255)(logits, label)
    assert torch.allclose(loss(logits, label, ignore_index=255), 0.4 * expected)
    assert loss.loss_name == 'loss_ce'
    with pytest.raises(ValueError, match='19 class weights but the logits have 5'):
        loss(logits[:, :5], label)
    with pytest.raises(ValueError, match='class_weight must be'):
        ClassWeightedCrossEntropyLoss([])


def _samples(batch, shape):
    samples = []
    for _ in range(batch):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 19, (1, *shape)))
        sample.set_metainfo(dict(img_shape=shape, ori_shape=shape, pad_shape=shape))
        samples.append(sample)
    return samples


def _scene_1024x2048():
    """A generated 1024x2048 street scene as a (1, 3, H, W) float batch, with its samples."""
    from mmseg_rga.datasets.synthetic import synthetic_scene
    image, _ = synthetic_scene(0, 'val', 0, (1024, 2048))
    return torch.from_numpy(image).permute(2, 0, 1)[None].float(), _samples(1, (1024, 2048))


def _rga_inputs(model):
    """Record the (H, W) every RGA block of ``model`` sees."""
    seen = []
    for module in model.modules():
        if type(module).__name__ == 'RGABlock':
            module.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape[-2:])))
    return seen


@pytest.mark.slow
@pytest.mark.parametrize('row', sorted(ROWS))
def test_builds_trains_and_infers(row):
    """Full ResNet-101: one SGD step on 2x3x97x97 (C5 13x13, RoIAligned to 97x97 nodes; PSP/ASPP
    image pooling needs batch 2 in training), then whole-image inference on a generated
    1024x2048 street scene: 128x256 maps (mmseg's ResNetV1c) RoIAligned to 97x97 nodes -> a
    1024x2048 prediction."""
    model = _build(_cfg(row))
    model.train()
    optim = torch.optim.SGD(model.parameters(), lr=0.01)
    losses = model.loss(torch.randn(2, 3, 97, 97), _samples(2, (97, 97)))
    assert all(torch.isfinite(v).all() for k, v in losses.items() if 'loss' in k)
    assert ('aux.loss_ce' in losses) == ROWS[row][3]
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    optim.step()
    model.eval()
    seen = _rga_inputs(model)
    with torch.no_grad():
        inputs, samples = _scene_1024x2048()
        data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples))
        result = model.predict(data['inputs'], data['data_samples'])
    assert seen == ([(128, 256)] if ROWS[row][1] or ROWS[row][2] else [])
    assert result[0].pred_sem_seg.data.shape == (1, 1024, 2048)
    assert result[0].seg_logits.data.shape == (19, 1024, 2048)
    assert torch.isfinite(result[0].seg_logits.data).all()
