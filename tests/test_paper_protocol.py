"""configs/rga/paper_protocol: Table 6 on OCNet's recipe, and the class-weighted loss it needs.

Fast: every row loads offline and states the recipe (schedule, loss, class weights, augmentation,
heads, RGA at 97x97 nodes, whole-image test); the loss equals torch's weighted cross-entropy.
Slow: every row's full ResNet-101 (SyncBN -> BN) on fake tensors: the README's parameter counts,
a 769x769 training forward and whole-image inference on 1024x2048 (shapes, the sizes RGA sees);
every row for real at a small input (one SGD step, whole-mode inference: finite); one row for
real at full size (a step on 2x3x97x97, inference on a generated 1024x2048 street scene).
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
from readme_tables import millions, paper_protocol_table

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


def _losses_and_step(model, size):
    """One SGD step on a 2x3xSxS batch: the losses, checked finite (PSP/ASPP image pooling
    needs batch 2 in training)."""
    model.train()
    optim = torch.optim.SGD(model.parameters(), lr=0.01)
    losses = model.loss(torch.randn(2, 3, size, size), _samples(2, (size, size)))
    assert all(torch.isfinite(v).all() for k, v in losses.items() if 'loss' in k)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    optim.step()
    return losses


def _whole_inference(model, inputs, samples):
    """Whole-mode inference through the data preprocessor: the result and the RGA input sizes."""
    model.eval()
    seen = _rga_inputs(model)
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples))
        result = model.predict(data['inputs'], data['data_samples'])
    return result[0], seen


def _count(module):
    return sum(p.numel() for p in module.parameters()) if module is not None else 0


#: the row that runs at full size for real (the cheapest RGA row: the other rows share its
#: backbone, RoIAlign path and whole-mode code; their own heads and necks run below at full size
#: on fake tensors and for real at a small input)
FULL_SIZE_ROW = 'ocnet-baseline-rga'


@pytest.mark.slow
@pytest.mark.parametrize('row', sorted(ROWS))
def test_full_size_on_fake_tensors(row):
    """Every row's full ResNet-101 (SyncBN -> BN) on fake tensors (shapes, no data, no memory):
    the parameter counts of the README's table; a 2x3x769x769 training forward (the RGA block
    sees its 97x97 nodes: no pooling of training crops); whole-image inference on 1024x2048:
    128x256 maps (mmseg's ResNetV1c) RoIAligned to 97x97 nodes -> (19, 1024, 2048) logits and a
    1024x2048 prediction."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    _, total, no_aux, rga_m, _, _ = paper_protocol_table()[row]
    has_rga = ROWS[row][1] or ROWS[row][2]
    with FakeTensorMode(allow_non_fake_inputs=True):
        model = _build(_cfg(row))
        rga = sum(_count(m) for m in model.modules() if type(m).__name__ == 'RGABlock')
        aux = model.auxiliary_head if model.with_auxiliary_head else None
        assert (millions(_count(model)), millions(_count(model) - _count(aux)),
                millions(rga)) == (total, no_aux, rga_m)
        model.train()
        seen = _rga_inputs(model)
        with torch.no_grad():
            feats = model.extract_feat(torch.empty(2, 3, 769, 769))
            assert model.decode_head(feats).shape == (2, 19, 97, 97)
            if aux is not None:
                assert aux(feats).shape == (2, 19, 97, 97)
        assert seen == ([(97, 97)] if has_rga else [])
        result, seen = _whole_inference(model, torch.empty(1, 3, 1024, 2048),
                                        _samples(1, (1024, 2048)))
    assert seen == ([(128, 256)] if has_rga else [])
    assert result.pred_sem_seg.data.shape == (1, 1024, 2048)
    assert result.seg_logits.data.shape == (19, 1024, 2048)


#: RGA rows whose block (channels, 97x97 nodes, every rga_cfg key) is the block of the row named
#: here, which runs for real at 97x97 nodes (FULL_SIZE_ROW at full size, the other below); their
#: own real run uses 17x17 nodes: the heads, necks and losses are theirs, the 97x97 block numbers
#: are the other row's, and test_full_size_on_fake_tensors runs them at 97x97
SAME_BLOCK_AS = {'pspnet-rga': FULL_SIZE_ROW, 'deeplabv3-rga': FULL_SIZE_ROW,
                 'pspnet-rganeck': 'ocnet-baseline-rganeck',
                 'deeplabv3-rganeck': 'ocnet-baseline-rganeck'}


def _rga_block_cfg(row):
    """(where, channels, rga_cfg) of the row's RGA block."""
    model = _cfg(row).model
    if ROWS[row][2]:
        return 'neck', model.neck.in_channels[model.neck.in_index], model.neck.rga_cfg.to_dict()
    return 'head', model.decode_head.channels, model.decode_head.rga_cfg.to_dict()


@pytest.mark.parametrize('row', sorted(SAME_BLOCK_AS))
def test_same_rga_block_as(row):
    assert _rga_block_cfg(row) == _rga_block_cfg(SAME_BLOCK_AS[row])
    assert _rga_block_cfg(row)[2]['pooled_size'] == (97, 97)


@pytest.mark.slow
@pytest.mark.parametrize('row', sorted(set(ROWS) - {FULL_SIZE_ROW}))
def test_trains_and_infers_at_a_small_input(row):
    """Full ResNet-101, real numbers: one SGD step on 2x3x33x33 (C5 5x5, RoIAligned up to the
    RGA nodes: 97x97, or 17x17 for the rows of SAME_BLOCK_AS) with finite losses and the DSN
    loss iff the row has one, then whole-mode inference on a 129x257 image (17x33 maps RoIAligned
    to the nodes): finite logits."""
    cfg = _cfg(row)
    if row in SAME_BLOCK_AS:
        (cfg.model.neck if ROWS[row][2] else cfg.model.decode_head).rga_cfg.pooled_size = (17, 17)
    model = _build(cfg)
    losses = _losses_and_step(model, 33)
    assert ('aux.loss_ce' in losses) == ROWS[row][3]
    result, seen = _whole_inference(model, torch.randn(1, 3, 129, 257), _samples(1, (129, 257)))
    assert seen == ([(17, 33)] if ROWS[row][1] or ROWS[row][2] else [])
    assert result.seg_logits.data.shape == (19, 129, 257)
    assert torch.isfinite(result.seg_logits.data).all()


class _ResNetD8Outputs(torch.nn.Module):
    """ResNetV1c-D8's four outputs (out_indices 0-3) for a (B, 3, H, W) input, random."""

    def forward(self, x):
        b, _, h, w = x.shape
        gen = torch.Generator().manual_seed(0)
        return tuple(torch.rand(b, c, h // s, w // s, generator=gen)
                     for c, s in ((256, 4), (512, 8), (1024, 8), (2048, 8)))


@pytest.mark.slow
def test_full_size_step_and_1024x2048_inference():
    """One row for real at full size: one SGD step on 2x3x97x97 (C5 13x13, RoIAligned to the
    97x97 nodes), then whole-image inference on a generated 1024x2048 street scene through the
    data preprocessor, heads and resize: 128x256 maps RoIAligned to 97x97 nodes -> finite
    (19, 1024, 2048) logits. For the inference the backbone (mmseg's ResNet-101, the bulk of the
    time at 1024x2048 on a CPU; at that size on fake tensors above) gives random maps of its
    output shapes."""
    model = _build(_cfg(FULL_SIZE_ROW))
    losses = _losses_and_step(model, 97)
    assert ('aux.loss_ce' in losses) == ROWS[FULL_SIZE_ROW][3]
    model.backbone = _ResNetD8Outputs()
    result, seen = _whole_inference(model, *_scene_1024x2048())
    assert seen == [(128, 256)]
    assert result.pred_sem_seg.data.shape == (1, 1024, 2048)
    assert result.seg_logits.data.shape == (19, 1024, 2048)
    assert torch.isfinite(result.seg_logits.data).all()
