"""Tests of RGANeck: output channels per level, fusion, pass-through, errors (CPU, small)."""
import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from readme_tables import block_params

import mmseg_rga  # noqa: F401  (registers the modules)
from mmseg_rga.checks import InputError
from mmseg_rga.models import RGABlock, RGANeck
from mmseg_rga.visualization import capture_gates

IN_CHANNELS = [8, 16, 32]
SIZES = [(20, 24), (10, 12), (5, 6)]


def _inputs(batch=2, channels=IN_CHANNELS, sizes=SIZES, grad=False):
    torch.manual_seed(0)
    return tuple(
        torch.randn(batch, c, h, w, requires_grad=grad) for c, (h, w) in zip(channels, sizes))


NECK_ARGS = ('in_channels', 'in_index', 'fusion', 'init_cfg')


def _neck(**kwargs):
    """RGANeck with the neck's own arguments as given and the rest in ``rga_cfg``."""
    rga_cfg = dict(pooled_size=(5, 5), ratio_spatial=4)
    rga_cfg.update({k: v for k, v in kwargs.items() if k not in NECK_ARGS})
    neck_args = {k: v for k, v in kwargs.items() if k in NECK_ARGS}
    return RGANeck(**dict(dict(in_channels=IN_CHANNELS), **neck_args), rga_cfg=rga_cfg)


def test_registered_and_built_from_config():
    init_default_scope('mmseg')
    neck = MODELS.build(dict(type='RGANeck', in_channels=IN_CHANNELS, rga_cfg=dict(pooled_size=5)))
    assert isinstance(neck, RGANeck)
    assert neck.in_index == [2]


def test_concat_default_last_level():
    neck = _neck().eval()
    inputs = _inputs()
    outs = neck(inputs)
    assert neck.out_channels == [8, 16, 64]
    assert [o.shape[1] for o in outs] == neck.out_channels
    for out, x in zip(outs, inputs):
        assert out.shape[0] == x.shape[0] and out.shape[2:] == x.shape[2:]
    # pass-through levels are the very same tensors
    assert outs[0] is inputs[0] and outs[1] is inputs[1]
    # concat: first C channels are the input, the rest the attended map
    torch.testing.assert_close(outs[2][:, :32], inputs[2])
    torch.testing.assert_close(outs[2][:, 32:], neck.rga_blocks[0](inputs[2]))
    with capture_gates(neck) as gates:
        neck(inputs)
    assert gates['rga_blocks.0']['spatial'].shape == (2, 1, 5, 6)
    assert gates['rga_blocks.0']['channel'].shape == (2, 32)


def test_replace_and_multiple_levels():
    neck = _neck(in_index=[0, -1], fusion='replace').eval()
    assert neck.in_index == [0, 2]
    assert neck.out_channels == IN_CHANNELS
    inputs = _inputs()
    outs = neck(inputs)
    assert outs[1] is inputs[1]
    for level, block in zip(neck.in_index, neck.rga_blocks):
        assert isinstance(block, RGABlock) and block.in_channels == IN_CHANNELS[level]
        torch.testing.assert_close(outs[level], block(inputs[level]))
    # level 0 (20x24) is larger than the pooled size, level 2 (5x6) smaller: both work
    with capture_gates(neck) as gates:
        neck(inputs)
    assert gates['rga_blocks.0']['spatial'].shape == (2, 1, 20, 24)


def test_concat_multiple_levels_channels():
    neck = _neck(in_index=(1, 2))
    assert neck.out_channels == [8, 32, 64]


def test_options_reach_the_block():
    neck = _neck(order='S', ratio_channel=4, align_corners=True,
                 norm_cfg=dict(type='GN', num_groups=1), act_cfg=dict(type='LeakyReLU'))
    block = neck.rga_blocks[-1]
    assert block.order == 'S' and block.channel is None
    assert block.pool.align_corners is True and block.pooled_size == (5, 5)
    assert block.spatial.theta.conv.out_channels == 32 // 4
    assert isinstance(block.spatial.theta.norm, torch.nn.GroupNorm)
    assert isinstance(block.spatial.theta.activate, torch.nn.LeakyReLU)


def test_backward_reaches_rga_and_input():
    neck = _neck().train()
    inputs = _inputs(grad=True)
    outs = neck(inputs)
    sum(o.sum() for o in outs).backward()
    assert all(p.grad is not None for p in neck.parameters() if p.requires_grad)
    assert inputs[2].grad is not None and torch.isfinite(inputs[2].grad).all()


def test_feature_map_smaller_than_pooled_size():
    neck = _neck(in_channels=[16], in_index=0, pooled_size=(9, 9)).eval()
    (out, ) = neck(_inputs(batch=1, channels=[16], sizes=[(3, 4)]))
    assert out.shape == (1, 32, 3, 4) and torch.isfinite(out).all()


@pytest.mark.parametrize('kwargs, match', [
    (dict(fusion='add'), "fusion must be one of .*got 'add'"),
    (dict(in_index=3), r'in_index 3 is out of range for 3 levels.*expected an index in \[-3, 2\]'),
    (dict(in_index=[2, -1]), 'selects a level twice'),
    (dict(in_index='last'), "in_index must be an int or a non-empty list of ints; got 'last'"),
    (dict(in_channels=[8, 0]), r'in_channels\[1\] must be a positive int; got 0'),
    (dict(in_channels=[]), r'in_channels must be .*got \[\]'),
    (dict(order='SS'), "order must be one of .*got 'SS'"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _neck(**kwargs)


def test_wrong_number_of_levels():
    neck = _neck()
    with pytest.raises(ValueError, match='built for 3 levels .* but got 2 inputs'):
        neck(_inputs()[:2])
    with pytest.raises(ValueError, match='expects a tuple/list of backbone levels; got Tensor'):
        neck(_inputs()[2])


def test_channel_mismatch_is_reported_by_the_block():
    neck = _neck()
    inputs = list(_inputs())
    inputs[2] = torch.randn(2, 24, 5, 6)
    with pytest.raises(ValueError, match=r'in_channels=32 but the input has 24 channels'):
        neck(inputs)
    inputs[2] = torch.randn(2, 32, 5)
    with pytest.raises(ValueError, match=r'expects a 4D .* got \(2, 32, 5\)'):
        neck(inputs)


def test_defaults_are_the_documented_block():
    """Defaults: last level, concat, RGA-SC at 33x33 with r_c = r_s = r_d = 8 -- on C5 (2048 ch)
    the 3,375,800-parameter block of docs/benchmarks.md's table (behaviour, not where defaults
    live)."""
    neck = RGANeck(in_channels=[256, 2048])
    assert neck.in_index == [1] and neck.out_channels == [256, 4096]
    block = neck.rga_blocks[-1]
    assert block.order == 'SC' and block.pooled_size == (33, 33)
    assert block.pool.align_corners is False
    assert block.spatial.theta.conv.out_channels == 2048 // 8              # r_c
    assert block.spatial.relation.weight.shape[0] == 33 * 33 // 8          # r_s
    assert block.spatial.logit[0].conv.out_channels == (1 + 1089 // 8) // 8  # r_d
    assert isinstance(block.spatial.theta.norm, torch.nn.BatchNorm2d)
    assert isinstance(block.spatial.theta.activate, torch.nn.ReLU)
    assert sum(p.numel() for p in neck.parameters()) == block_params()[(2048, 33)][2]


@pytest.mark.parametrize('flat,match', [
    (dict(pooled_size=33), r"^RGANeck takes the block's arguments in rga_cfg: move pooled_size "
                           r"into rga_cfg=dict\(pooled_size=...\)$"),
    (dict(pooled_size=(5, 5), order='S'), r'move pooled_size, order into '
                                          r'rga_cfg=dict\(pooled_size=..., order=...\)$'),
    (dict(pooled=5), r"unexpected arguments \['pooled'\]; .*RGA settings go into rga_cfg"),
])
def test_flat_rga_arguments_are_refused_naming_rga_cfg(flat, match):
    """No deprecation shim before a release: a flat RGA argument is a one-line InputError."""
    with pytest.raises(InputError, match=match) as err:
        RGANeck(IN_CHANNELS, rga_cfg=dict(pooled_size=(5, 5)), **flat)
    assert '\n' not in str(err.value)


def test_unknown_rga_cfg_key_names_the_closest():
    with pytest.raises(ValueError, match=r"unknown rga_cfg key 'pooled_sise' \(did you mean "
                                         r"'pooled_size'\?\); valid keys: \['pooled_size', "):
        RGANeck(IN_CHANNELS, rga_cfg=dict(pooled_sise=5))
