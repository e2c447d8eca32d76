"""RGA-S, RGA-C, their combinations and ablations, fixed-size pooling, autocast, conversion."""
import pytest
import torch
import torch.nn as nn
from reference_rga import OfficialRGAModule, randomize_bn_stats

from mmseg_rga.models import ChannelRGA, FixedSizePool, RGABlock, SpatialRGA, convert_official_rga

ORDERS = ['S', 'C', 'SC', 'CS', 'parallel']


def gate_params(feat, nodes, r_feat, r_node, r_logit, relation=True, appearance=True):
    """Closed-form parameter count of one branch (BN: 2 affine parameters per channel)."""
    f, k = feat // r_feat, nodes // r_node
    count = 0
    if relation:
        count += 2 * (feat * f + 2 * f)       # theta, phi
        count += 2 * nodes * k + 2 * k         # relation embedding 2M -> M/r_node
    if appearance:
        count += feat * f + 2 * f
    logit_in = int(appearance) + (k if relation else 0)
    hidden = max(1, logit_in // r_logit)
    count += logit_in * hidden + 2 * hidden + hidden + 2
    return count


def block_params(c, n, order, r_c=8, r_s=8, r_d=8, **kw):
    count = 0
    if 'S' in order or order == 'parallel':
        count += gate_params(c, n, r_c, r_s, r_d, **kw)
    if 'C' in order or order == 'parallel':
        count += gate_params(n, c, r_s, r_c, r_d, **kw)
    return count


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def _max_rel_err(a, b):
    """max |a - b| relative to max |b|."""
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


def _x(b=2, c=16, h=6, w=6, seed=0):
    return torch.relu(torch.randn(b, c, h, w, generator=torch.Generator().manual_seed(seed)))


@pytest.mark.parametrize('order', ORDERS)
def test_orders_shapes_layers_and_params(order):
    block = RGABlock(16, (6, 6), order=order, ratio_channel=4, ratio_spatial=4, ratio_logit=2)
    x = _x()
    out = block(x)
    assert out.shape == x.shape
    has_s, has_c = 'S' in order or order == 'parallel', 'C' in order or order == 'parallel'
    assert (block.spatial is not None) == has_s and (block.channel is not None) == has_c
    assert n_params(block) == block_params(16, 36, order, 4, 4, 2)
    gates = block.gates()
    assert (gates['spatial'] is not None) == has_s and (gates['channel'] is not None) == has_c
    if has_s:
        assert gates['spatial'].shape == (2, 1, 6, 6)
    if has_c:
        assert gates['channel'].shape == (2, 16)


@pytest.mark.parametrize('use_relation,use_appearance', [(False, True), (True, False)])
def test_ablations_do_not_build_unused_layers(use_relation, use_appearance):
    block = RGABlock(16, (6, 6), order='SC', ratio_channel=4, ratio_spatial=4,
                     use_relation=use_relation, use_appearance=use_appearance)
    for branch in (block.spatial, block.channel):
        for name in ('theta', 'phi', 'relation'):
            assert hasattr(branch, name) == use_relation
        assert hasattr(branch, 'appearance') == use_appearance
    assert n_params(block) == block_params(16, 36, 'SC', 4, 4, 8, relation=use_relation,
                                           appearance=use_appearance)
    assert block(_x()).shape == (2, 16, 6, 6)


def test_paper_sized_parameter_counts():
    """RGA-SC at C=2048 for the 97x97 and 33x33 pooled sizes (numbers quoted in the README)."""
    for size in (97, 33):
        block = RGABlock(2048, size)
        assert n_params(block) == block_params(2048, size * size, 'SC')


@pytest.mark.parametrize('order', ['S', 'C', 'SC'])
@pytest.mark.parametrize('train', [True, False])
def test_official_weights_convert_and_match(order, train):
    c, h, w = 16, 5, 6
    official = OfficialRGAModule(c, h * w, use_spatial='S' in order, use_channel='C' in order,
                                 cha_ratio=4, spa_ratio=4, down_ratio=2)
    randomize_bn_stats(official)
    block = RGABlock(c, (h, w), order=order, ratio_channel=4, ratio_spatial=4, ratio_logit=2)
    block.load_state_dict(convert_official_rga(official.state_dict()), strict=True)
    official.train(train)
    block.train(train)
    x = _x(c=c, h=h, w=w).requires_grad_()
    out_block, out_official = block(x), official(x)
    torch.testing.assert_close(out_block, out_official, rtol=1e-5, atol=1e-6)
    # gradients w.r.t. the input and every (converted) weight agree too
    upstream = torch.randn_like(out_block)
    grads_block = torch.autograd.grad((out_block * upstream).sum(), [x, *block.parameters()])
    grads_official = torch.autograd.grad((out_official * upstream).sum(),
                                         [x, *official.parameters()])
    official_names = [n for n, _ in official.named_parameters()]
    by_name = dict(zip(convert_official_rga(dict(zip(official_names, grads_official[1:]))),
                       grads_official[1:]))
    assert _max_rel_err(grads_block[0], grads_official[0]) < 1e-5
    for (name, _), grad in zip(block.named_parameters(), grads_block[1:]):
        assert _max_rel_err(grad, by_name[name]) < 1e-5, name


def test_converter_prefix_and_errors():
    official = OfficialRGAModule(8, 9, cha_ratio=2, spa_ratio=3, down_ratio=2)
    nested = {f'backbone.rga_att4.{k}': v for k, v in official.state_dict().items()}
    nested['backbone.conv1.weight'] = torch.zeros(1)
    converted = convert_official_rga(nested, prefix='backbone.rga_att4.')
    RGABlock(8, 3, ratio_channel=2, ratio_spatial=3, ratio_logit=2).load_state_dict(converted)
    with pytest.raises(ValueError, match='no official RGA_Module key'):
        convert_official_rga(nested, prefix='neck.')
    with pytest.raises(ValueError, match='not a key of the official'):
        convert_official_rga(nested, prefix='backbone.')


@pytest.mark.parametrize('order', ORDERS)
def test_gradcheck_double(order):
    torch.manual_seed(0)
    block = RGABlock(4, (3, 3), order=order, ratio_channel=2, ratio_spatial=3,
                     ratio_logit=2).double()
    x = _x(b=2, c=4, h=3, w=3).double().requires_grad_()
    assert torch.autograd.gradcheck(block, (x,), eps=1e-6, atol=1e-5)


def test_gradcheck_double_through_pooling():
    torch.manual_seed(0)
    block = RGABlock(4, (3, 3), order='SC', ratio_channel=2, ratio_spatial=3,
                     ratio_logit=2, align_corners=True).double()
    x = _x(b=2, c=4, h=5, w=4).double().requires_grad_()
    assert torch.autograd.gradcheck(block, (x,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize('align_corners', [False, True])
def test_native_size_is_not_resampled(align_corners):
    pool = FixedSizePool((5, 6), align_corners)
    x = _x(c=3, h=5, w=6)
    assert pool.pool(x) is x
    official = OfficialRGAModule(16, 30, cha_ratio=4, spa_ratio=4, down_ratio=2).eval()
    randomize_bn_stats(official)
    block = RGABlock(16, (5, 6), ratio_channel=4, ratio_spatial=4, ratio_logit=2,
                     align_corners=align_corners).eval()
    block.load_state_dict(convert_official_rga(official.state_dict()))
    x = _x(c=16, h=5, w=6)
    torch.testing.assert_close(block(x), official(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize('align_corners', [False, True])
@pytest.mark.parametrize('size', [(9, 9), (13, 7), (3, 2), (1, 1), (40, 25)])
@pytest.mark.parametrize('batch', [1, 3])
def test_any_input_size(align_corners, size, batch):
    block = RGABlock(8, (5, 5), order='SC', ratio_channel=2, ratio_spatial=5,
                     align_corners=align_corners)
    x = _x(b=batch, c=8, h=size[0], w=size[1])
    out = block(x)
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert block.last_spatial_gate.shape == (batch, 1) + size
    assert block.last_channel_gate.shape == (batch, 8)
    out.sum().backward()


@pytest.mark.parametrize('align_corners', [False, True])
def test_pooling_geometry(align_corners):
    """A linear ramp pools to its values at the node centres; a constant map stays constant."""
    height, width, pooled = 9, 17, (5, 9)
    rows = torch.arange(height, dtype=torch.float32).view(1, 1, -1, 1).expand(1, 1, -1, width)
    cols = torch.arange(width, dtype=torch.float32).view(1, 1, 1, -1).expand(1, 1, height, -1)
    pool = FixedSizePool(pooled, align_corners)
    out = pool.pool(torch.cat([rows, cols, torch.full_like(rows, 3.0)], dim=1))
    if align_corners:  # node k on pixel k * (L - 1) / (l - 1): 2k here
        exp_rows, exp_cols = torch.arange(5) * 2.0, torch.arange(9) * 2.0
    else:  # node k at the centre of the k-th of l equal bins
        exp_rows = (torch.arange(5) + 0.5) * height / 5 - 0.5
        exp_cols = (torch.arange(9) + 0.5) * width / 9 - 0.5
    # interior nodes (border bins are clamped / replicate-padded)
    torch.testing.assert_close(out[0, 0, 1:-1, 0], exp_rows[1:-1])
    torch.testing.assert_close(out[0, 1, 0, 1:-1], exp_cols[1:-1])
    torch.testing.assert_close(out[0, 2], torch.full(pooled, 3.0))
    back = pool.unpool(out[:, :1], (height, width))
    assert back.shape == (1, 1, height, width)
    if align_corners:  # the resize puts node values back exactly on their pixels
        torch.testing.assert_close(back[0, 0, 2:-2:2, 0], exp_rows[1:-1])


def test_syncbn_builds_syncbn_layers():
    block = RGABlock(16, (4, 4), order='SC', ratio_channel=4, ratio_spatial=4,
                     norm_cfg=dict(type='SyncBN', requires_grad=True))
    norms = [m for m in block.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and all(isinstance(m, nn.SyncBatchNorm) for m in norms)
    # 6 norms per branch: theta, phi, relation, appearance, 2 in the logit MLP
    assert len(norms) == 12


def test_group_norm_and_other_activation():
    block = RGABlock(16, (4, 4), ratio_channel=4, ratio_spatial=4,
                     norm_cfg=dict(type='GN', num_groups=1), act_cfg=dict(type='LeakyReLU'))
    assert any(isinstance(m, nn.GroupNorm) for m in block.modules())
    assert block(_x(c=16, h=4, w=4)).shape == (2, 16, 4, 4)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast_is_finite_and_close_at_97x97(dtype):
    """N = 9409 nodes; relation values are far outside fp16's range, the path stays fp32."""
    torch.manual_seed(0)
    block = RGABlock(64, (97, 97), order='SC')
    x = 3 * torch.relu(torch.randn(1, 64, 97, 97))
    relation_dtypes = []
    for branch in (block.spatial, block.channel):
        branch.relation.register_forward_hook(lambda m, i, o: relation_dtypes.append(o.dtype))
    with torch.no_grad():
        ref = block(x)
        try:
            with torch.autocast('cpu', dtype=dtype):
                out = block(x)
        except RuntimeError as err:  # pragma: no cover - depends on the CPU kernels
            pytest.skip(f'autocast {dtype} unsupported on this CPU build: {err}')
    assert torch.isfinite(out).all()
    assert out.dtype in (dtype, torch.float32)
    assert relation_dtypes == [torch.float32] * 4  # fp32 run, then the autocast run
    rel = ((out.float() - ref).abs().mean() / ref.abs().mean()).item()
    assert rel < 5e-2, rel


def test_autocast_pooling_runs_in_the_input_dtype():
    """bf16 in, bf16 matmuls (no fp32 detour): equal to the bf16 matrices applied by hand."""
    pool = FixedSizePool((4, 4))
    x = _x(c=3, h=9, w=7).bfloat16()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = pool.pool(x)
    rows, cols = pool.matrices(9, 7, torch.bfloat16)
    assert out.dtype == torch.bfloat16 and out.shape == (2, 3, 4, 4)
    assert rows.dtype == cols.dtype == torch.bfloat16
    torch.testing.assert_close(out, rows @ x @ cols.t(), rtol=0, atol=0)
    reference = pool.pool(x.float())
    assert not torch.equal(out.float(), reference)  # fp32 math would round differently
    torch.testing.assert_close(out.float(), reference, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize('kwargs,match', [
    (dict(order='SCS'), 'order must be one of'),
    (dict(ratio_channel=32), r'leaves zero channels'),
    (dict(ratio_spatial=64), r'leaves zero channels'),
    (dict(ratio_channel=0), 'positive int'),
    (dict(pooled_size=(0, 3)), 'pooled_size'),
    (dict(pooled_size=(3,)), 'pooled_size'),
    (dict(pooled_size='7'), 'pooled_size'),
    (dict(pooled_size=2.5), 'pooled_size'),
    (dict(pooled_size=(True, 3)), 'pooled_size'),
    (dict(use_relation=False, use_appearance=False), 'use_relation or use_appearance'),
    (dict(in_channels=0), 'in_channels'),
])
def test_bad_configuration(kwargs, match):
    args = dict(in_channels=16, pooled_size=(6, 6))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        RGABlock(**args)


def test_bad_inputs():
    block = RGABlock(16, (4, 4), ratio_channel=4, ratio_spatial=4)
    with pytest.raises(ValueError, match=r'4D \(B, C, H, W\)'):
        block(torch.zeros(16, 4, 4))
    with pytest.raises(ValueError, match='in_channels=16 but the input has 8 channels'):
        block(torch.zeros(2, 8, 4, 4))


def test_branch_modules_standalone():
    x = _x(c=16, h=4, w=5)
    assert SpatialRGA(16, (4, 5), 4, 4).forward(x).shape == (2, 1, 4, 5)
    assert ChannelRGA(16, (4, 5), 4, 4).forward(x).shape == (2, 16, 1, 1)
