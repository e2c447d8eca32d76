"""Tests of the RGA decode-head wrappers (one mechanism for every wrapped head; CPU, small)."""
import copy
import textwrap

import mmseg.models.decode_heads as decode_heads
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.models.decode_heads import ASPPHead, DepthwiseSeparableASPPHead, FCNHead, PSPHead
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from readme_tables import block_params

import mmseg_rga  # noqa: F401  (registers the modules)
from mmseg_rga.models import (
    RGAASPPHead,
    RGABlock,
    RGADepthwiseSeparableASPPHead,
    RGAFCNHead,
    RGAHeadMixin,
    RGAPSPHead,
    rga_head,
)
from mmseg_rga.visualization import capture_gates

NUM_CLASSES = 5
CHANNELS = 16
RGA_CFG = dict(pooled_size=(9, 9), ratio_spatial=4)
COMMON = dict(channels=CHANNELS, num_classes=NUM_CLASSES, rga_cfg=RGA_CFG)

# (registered type, its base head, head kwargs, channels of the backbone levels it reads)
HEADS = {
    'RGAPSPHead': (RGAPSPHead, PSPHead, dict(in_channels=32, pool_scales=(1, 2, 3)), [32]),
    'RGAASPPHead': (RGAASPPHead, ASPPHead, dict(in_channels=32, dilations=(1, 2)), [32]),
    'RGAFCNHead': (RGAFCNHead, FCNHead, dict(in_channels=32, num_convs=2, concat_input=True),
                   [32]),
    'RGADepthwiseSeparableASPPHead':
    (RGADepthwiseSeparableASPPHead, DepthwiseSeparableASPPHead,
     dict(in_channels=32, in_index=1, dilations=(1, 2), c1_in_channels=8, c1_channels=4),
     [8, 32]),
}


def _build(name, **overrides):
    init_default_scope('mmseg')
    cfg = dict(type=name, **HEADS[name][2], **copy.deepcopy(COMMON))
    cfg.update(overrides)
    return MODELS.build(cfg)


def _inputs(name, size=(17, 33), batch=2):
    """Backbone levels for the head; the c1 level (DeepLabV3+) is at twice the resolution."""
    torch.manual_seed(0)
    levels = HEADS[name][3]
    if len(levels) == 1:
        return [torch.randn(batch, levels[0], *size)]
    return [torch.randn(batch, levels[0], 2 * size[0], 2 * size[1]),
            torch.randn(batch, levels[1], *size)]


def _feature_size(name, size):
    return (2 * size[0], 2 * size[1]) if len(HEADS[name][3]) > 1 else size


def _data_samples(batch, shape):
    samples = []
    for _ in range(batch):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(0, NUM_CLASSES, (1, *shape)))
        sample.set_metainfo(dict(img_shape=shape, pad_shape=shape, ori_shape=shape))
        samples.append(sample)
    return samples


@pytest.mark.parametrize('name', list(HEADS))
def test_same_mechanism_and_structure(name):
    cls, base, _, _ = HEADS[name]
    head = _build(name)
    assert type(head) is cls and isinstance(head, base) and isinstance(head, RGAHeadMixin)
    assert MODELS.get(name) is cls
    # one mechanism: the mixin's cls_seg, not a per-head copy
    assert cls.cls_seg is RGAHeadMixin.cls_seg and cls.__init__ is RGAHeadMixin.__init__
    assert isinstance(head.rga, RGABlock) and head.rga.in_channels == CHANNELS
    assert head.rga.pooled_size == (9, 9) and head.rga.order == 'SC'
    assert head.conv_seg.in_channels == 2 * CHANNELS
    assert head.conv_seg.out_channels == NUM_CLASSES
    # the base head's own layers are untouched: same parameter count apart from rga + conv_seg
    plain = MODELS.build(dict(type=base.__name__, **HEADS[name][2], channels=CHANNELS,
                              num_classes=NUM_CLASSES))
    n_rga = sum(p.numel() for p in head.rga.parameters())
    extra_cls = CHANNELS * NUM_CLASSES
    assert (sum(p.numel() for p in head.parameters()) ==
            sum(p.numel() for p in plain.parameters()) + n_rga + extra_cls)


@pytest.mark.parametrize('name', list(HEADS))
def test_forward_shapes_and_gates(name):
    head = _build(name).eval()
    with capture_gates(head) as gates:
        out = head(_inputs(name, size=(17, 33)))
    feat = _feature_size(name, (17, 33))
    assert out.shape == (2, NUM_CLASSES, *feat)
    assert gates['rga']['spatial'].shape == (2, 1, *feat)
    assert gates['rga']['channel'].shape == (2, CHANNELS)


@pytest.mark.parametrize('name', list(HEADS))
def test_cls_seg_is_rga_concat_then_classifier(name):
    head = _build(name, dropout_ratio=0.0).eval()
    feat = torch.randn(2, CHANNELS, 7, 11)
    expected = head.conv_seg(torch.cat([feat, head.rga(feat)], dim=1))
    torch.testing.assert_close(head.cls_seg(feat), expected)


@pytest.mark.parametrize('name', list(HEADS))
def test_loss_backward(name):
    head = _build(name).train()
    inputs = _inputs(name, size=(9, 9))
    img = tuple(4 * s for s in _feature_size(name, (9, 9)))
    losses = head.loss(inputs, _data_samples(2, img), train_cfg=dict())
    assert torch.isfinite(losses['loss_ce'])
    losses['loss_ce'].backward()
    for pname, param in head.named_parameters():
        if pname.startswith(('rga.', 'conv_seg.')):
            assert param.grad is not None, pname
    assert head.conv_seg.weight.grad[:, CHANNELS:].abs().sum() > 0  # the RGA half is used


@pytest.mark.parametrize('name', list(HEADS))
def test_whole_image_inference_at_a_non_crop_size(name):
    """Features 17x33 against 9x9 nodes: RoIAlign down, gate resized back, logits at img size."""
    head = _build(name, align_corners=True).eval()
    assert head.rga.pool.align_corners is True  # taken from the head
    feat = _feature_size(name, (17, 33))
    img_shape = (8 * feat[0], 8 * feat[1])
    with torch.no_grad(), capture_gates(head) as gates:
        logits = head.predict(_inputs(name, size=(17, 33), batch=1),
                              [dict(img_shape=img_shape, pad_shape=img_shape)], dict())
    assert logits.shape == (1, NUM_CLASSES, *img_shape)
    assert torch.isfinite(logits).all()
    assert gates['rga']['spatial'].shape == (1, 1, *feat)


def test_norm_and_align_corners_come_from_the_head_unless_given():
    head = _build('RGAPSPHead', norm_cfg=dict(type='GN', num_groups=1), align_corners=True)
    assert isinstance(head.rga.spatial.theta.norm, torch.nn.GroupNorm)
    assert head.rga.pool.align_corners is True
    head = _build('RGAPSPHead', norm_cfg=dict(type='GN', num_groups=1), align_corners=True,
                  rga_cfg=dict(pooled_size=5, order='S', norm_cfg=dict(type='BN'),
                               align_corners=False, ratio_channel=4))
    assert isinstance(head.rga.spatial.theta.norm, torch.nn.BatchNorm2d)
    assert head.rga.pool.align_corners is False
    assert head.rga.order == 'S' and head.rga.channel is None and head.rga.pooled_size == (5, 5)
    assert head.rga.spatial.theta.conv.out_channels == CHANNELS // 4


@pytest.mark.parametrize('name', list(HEADS))
def test_default_rga_cfg(name):
    """Without rga_cfg: RGA-SC at 33x33, ratios 8, the head's norm and align_corners; on a
    512-channel head the 908,888-parameter block of docs/benchmarks.md's table."""
    head = _build(name, rga_cfg=None, channels=512, norm_cfg=dict(type='GN', num_groups=1),
                  align_corners=True)
    block = head.rga
    assert block.pooled_size == (33, 33) and block.order == 'SC'
    assert block.pool.align_corners is True
    assert isinstance(block.spatial.theta.norm, torch.nn.GroupNorm)
    assert block.spatial.theta.conv.out_channels == 512 // 8
    assert block.spatial.relation.weight.shape[0] == 33 * 33 // 8
    assert block.spatial.logit[0].conv.out_channels == (1 + 1089 // 8) // 8
    assert sum(p.numel() for p in block.parameters()) == block_params()[(512, 33)][2]


@pytest.mark.parametrize('rga_cfg, match', [
    ([('pooled_size', 9)], 'rga_cfg must be a dict of RGABlock arguments or None; got list'),
    (dict(pooled_size=9, in_channels=8), "must not set in_channels.*channels \\(16\\).*got "
     'in_channels=8'),
    (dict(type='NonLocal2d'), "rga_cfg\\['type'\\] must be 'RGABlock'.*got 'NonLocal2d'"),
    (dict(pooled_size=(9, 9, 9)), 'pooled_size must be .*got \\(9, 9, 9\\)'),
    (dict(order='XY'), "order must be one of .*got 'XY'"),
])
def test_bad_rga_cfg(rga_cfg, match):
    with pytest.raises(ValueError, match=match):
        _build('RGAPSPHead', rga_cfg=rga_cfg)


def test_channel_mismatch_at_cls_seg():
    head = _build('RGAFCNHead')
    with pytest.raises(ValueError, match='in_channels=16 but the input has 8 channels'):
        head.cls_seg(torch.randn(1, 8, 9, 9))


def test_rga_head_factory():
    cls = rga_head(FCNHead, name='MyRGAFCNHead')
    assert cls.__name__ == 'MyRGAFCNHead' and issubclass(cls, (RGAHeadMixin, FCNHead))
    assert cls.cls_seg is RGAHeadMixin.cls_seg
    head = cls(in_channels=8, channels=8, num_convs=1, num_classes=3, rga_cfg=dict(pooled_size=4))
    assert head.conv_seg.in_channels == 16
    assert head([torch.randn(1, 8, 6, 7)]).shape == (1, 3, 6, 7)
    with pytest.raises(ValueError, match='expects a BaseDecodeHead subclass; got'):
        rga_head(torch.nn.Conv2d)


def test_custom_config_from_scratch(tmp_path):
    """A user's own config: custom_imports + type='RGAPSPHead' builds through the registry."""
    path = tmp_path / 'my_rga_config.py'
    path.write_text(textwrap.dedent("""\
        custom_imports = dict(imports=['mmseg_rga'], allow_failed_imports=False)
        norm_cfg = dict(type='BN', requires_grad=True)
        model = dict(
            type='EncoderDecoder',
            data_preprocessor=dict(type='SegDataPreProcessor', mean=[0, 0, 0], std=[1, 1, 1]),
            backbone=dict(type='ResNetV1c', depth=18, base_channels=16, out_indices=(0, 1, 2, 3),
                          dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1), norm_cfg=norm_cfg,
                          contract_dilation=True),
            decode_head=dict(type='RGAPSPHead', in_channels=128, in_index=3, channels=32,
                             pool_scales=(1, 2, 3, 6), num_classes=4, norm_cfg=norm_cfg,
                             align_corners=True,
                             rga_cfg=dict(pooled_size=(9, 9), ratio_spatial=4)),
            train_cfg=dict(), test_cfg=dict(mode='whole'))
        """))
    cfg = Config.fromfile(str(path))
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    assert type(model.decode_head) is RGAPSPHead
    assert model.decode_head.conv_seg.in_channels == 64
    model.eval()
    with torch.no_grad(), capture_gates(model) as gates:
        out = model._forward(torch.randn(1, 3, 65, 65))
    assert out.shape == (1, 4, 9, 9)
    assert gates['decode_head.rga']['spatial'].shape == (1, 1, 9, 9)


def test_cityscapes_sizes_train_on_crops_and_infer_whole_images():
    """The paper's setting: nodes built for 769 crops (97x97 at OS 8, pooled to 33x33), then
    whole 1024x2048 images (129x257 features) and a 1.25x TTA scale (161x321) through the same
    weights; the 97x97 crop map is pooled and resized back exactly (align_corners=True)."""
    head = _build('RGAPSPHead', align_corners=True, rga_cfg=dict(pooled_size=(33, 33))).eval()
    for feat in ((97, 97), (129, 257), (161, 321)):
        with torch.no_grad(), capture_gates(head) as gates:
            logits = head.forward([torch.randn(1, 32, *feat)])
        assert logits.shape == (1, NUM_CLASSES, *feat)
        assert torch.isfinite(logits).all()
        assert gates['rga']['spatial'].shape == (1, 1, *feat)
    # on the 97x97 crop map every 3rd pixel is a node: the resized gate equals the node gates
    pool = head.rga.pool
    x = torch.randn(1, CHANNELS, 97, 97)
    nodes = torch.rand(1, 1, 33, 33)
    torch.testing.assert_close(pool.unpool(nodes, (97, 97))[..., ::3, ::3], nodes)
    assert pool.pool(x).shape == (1, CHANNELS, 33, 33)


class _HelperFCN(FCNHead):
    """Reaches cls_seg through super().forward."""

    def forward(self, inputs):
        return super().forward(inputs) * 2


class _FeatureOnlyFCN(FCNHead):
    """Its forward stops before the classifier: never reaches cls_seg."""

    def forward(self, inputs):
        return self._forward_feature(inputs)


@pytest.mark.parametrize('base', ['SegmenterMaskTransformerHead', 'VPDDepthHead',
                                  'SideAdapterCLIPHead', 'IterativeDecodeHead', _FeatureOnlyFCN])
def test_rga_head_refuses_heads_that_never_reach_cls_seg(base):
    """These heads compute their output without their own cls_seg: RGA would never run."""
    base = getattr(decode_heads, base) if isinstance(base, str) else base
    with pytest.raises(ValueError, match=rf'forward calls self\.cls_seg.*{base.__name__}\.forward '
                                         'never reaches cls_seg'):
        rga_head(base)


@pytest.mark.parametrize('base', [PSPHead, ASPPHead, FCNHead, DepthwiseSeparableASPPHead,
                                  'NLHead', 'UPerHead', 'DepthwiseSeparableFCNHead', 'PIDHead',
                                  _HelperFCN])
def test_rga_head_accepts_heads_that_reach_cls_seg(base):
    """Directly (PSP, ASPP, NL), in a subclass's own forward (DeepLabV3+), through a helper
    (UPer), an inherited forward (DepthwiseSeparableFCN), the bound method handed on (PID) or
    super().forward; the built head applies RGA."""
    base = getattr(decode_heads, base) if isinstance(base, str) else base
    cls = rga_head(base)
    assert cls.__name__ == f'RGA{base.__name__}' and cls.cls_seg is RGAHeadMixin.cls_seg
    if base in (decode_heads.NLHead, _HelperFCN):
        head = cls(in_channels=8, channels=8, num_classes=3, rga_cfg=dict(pooled_size=4)).eval()
        calls = []
        head.rga.register_forward_hook(lambda *args: calls.append(1))
        assert head([torch.randn(1, 8, 6, 7)]).shape == (1, 3, 6, 7)
        assert calls == [1]
