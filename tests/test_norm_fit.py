"""The norm rule of rga_cfg (mmseg_rga/models/norm_fit.py): a norm inherited from the head is
fitted to every width the block builds; one given in rga_cfg is used as given or refused."""
import pytest
import torch
import torch.nn as nn
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_rga  # noqa: F401  (registers the modules)
from mmseg_rga.checks import InputError
from mmseg_rga.models import RGABlock
from mmseg_rga.models.norm_fit import largest_divisor, norm_cfg_for, norm_class

pytestmark = pytest.mark.usefixtures('one_thread')
GN32 = dict(type='GN', num_groups=32, requires_grad=True)


def _head(norm_cfg, rga_cfg=None, channels=64, in_channels=8, num_convs=1):
    init_default_scope('mmseg')
    return MODELS.build(dict(type='RGAFCNHead', in_channels=in_channels, channels=channels,
                             num_convs=num_convs, concat_input=False, num_classes=3,
                             norm_cfg=norm_cfg, rga_cfg=rga_cfg))


def _norms(block):
    """{layer name in the block: its norm module} for every norm of the block."""
    return {name.rsplit('.', 1)[0]: m for name, m in block.named_modules()
            if isinstance(m, (nn.GroupNorm, nn.LayerNorm, nn.modules.batchnorm._BatchNorm))}


def test_largest_divisor():
    assert [largest_divisor(w, 32) for w in (136, 17, 1, 64, 96, 31)] == [17, 17, 1, 32, 32, 31]
    assert largest_divisor(8, 1) == 1 and largest_divisor(12, 5) == 4


def test_inherited_group_norm_is_fitted_to_every_width_at_the_default_grid():
    """The SegNeXt case: GN 32 from the head, 33x33 nodes: widths 136, 17, 8 and 1."""
    head = _head(GN32)
    groups = {name: (m.num_channels, m.num_groups) for name, m in _norms(head.rga).items()}
    assert groups['spatial.theta'] == (8, 8) and groups['spatial.relation'] == (136, 17)
    assert groups['spatial.logit.0'] == (17, 17) and groups['spatial.logit.1'] == (1, 1)
    assert groups['channel.theta'] == (136, 17) and groups['channel.relation'] == (8, 8)
    assert all(c % g == 0 for c, g in groups.values())
    assert all(m.weight.requires_grad for m in _norms(head.rga).values())
    head.eval()
    with torch.no_grad():
        assert head([torch.randn(1, 8, 9, 9)]).shape == (1, 3, 9, 9)


def test_inherited_layer_norm_becomes_one_group_norm():
    head = _head(dict(type='LN', eps=1e-6), in_channels=64, num_convs=0)  # no conv of its own
    norms = _norms(head.rga)
    assert norms and all(type(m) is nn.GroupNorm and m.num_groups == 1 and m.eps == 1e-6
                         for m in norms.values())
    head.eval()
    with torch.no_grad():
        assert head([torch.randn(2, 64, 9, 9)]).shape == (2, 3, 9, 9)


def test_per_channel_norms_are_kept_as_they_are():
    for norm_cfg, kind in ((dict(type='BN', momentum=0.3), nn.BatchNorm2d),
                           (dict(type='SyncBN'), nn.SyncBatchNorm)):
        norms = _norms(_head(norm_cfg, channels=16).rga)
        assert {type(m) for m in norms.values()} == {norm_class(norm_cfg)}
        assert issubclass(norm_class(norm_cfg), kind)
        assert norm_cfg_for(norm_cfg, 136, 'x', fit=False) == norm_cfg


@pytest.mark.parametrize('norm_cfg, match', [
    (GN32, r"^rga_cfg\.norm_cfg=dict\(type='GN', num_groups=32, requires_grad=True\) cannot "
           r'normalize spatial\.relation of the RGA block \(136 channels\): 32 groups do not '
           r'divide 136; use a num_groups that divides every width of the block \(e\.g\. 17 '
           r'here, or 1\)'),
    (dict(type='GN', num_groups=3), r'spatial\.theta of the RGA block \(64 channels\): 3 groups'),
    (dict(type='LN'), r"cannot normalize spatial\.theta .*LayerNorm normalizes the last axis.*"
                      r"use dict\(type='GN', num_groups=1\)"),
])
def test_an_explicit_norm_that_cannot_normalize_a_width_is_refused(norm_cfg, match):
    with pytest.raises(InputError, match=match) as err:  # 512 channels: 64 wide embeddings
        _head(dict(type='BN'), rga_cfg=dict(norm_cfg=norm_cfg), channels=512)
    assert '\n' not in str(err.value)
    assert 'set rga_cfg.fit_norm=True' in str(err.value)


def test_explicit_norm_with_fit_norm_and_inherited_norm_with_fit_norm_off():
    head = _head(dict(type='BN'), rga_cfg=dict(norm_cfg=GN32, fit_norm=True))
    assert _norms(head.rga)['spatial.relation'].num_groups == 17
    with pytest.raises(InputError, match=r'spatial\.relation .*136 channels'):
        _head(GN32, rga_cfg=dict(fit_norm=False), channels=512)


def test_block_default_does_not_fit():
    with pytest.raises(InputError, match='cannot normalize spatial.theta'):
        RGABlock(16, 4, norm_cfg=dict(type='GN', num_groups=3))
    block = RGABlock(16, 4, norm_cfg=dict(type='GN', num_groups=3), fit_norm=True)
    assert _norms(block)['spatial.theta'].num_groups == 2
    assert block.rebuilt(pooled_size=5).init_args['fit_norm'] is True
