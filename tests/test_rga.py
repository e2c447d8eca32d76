"""RGA-S, RGA-C, their combinations and ablations, fixed-size pooling, autocast, conversion."""
import pytest
import torch
import torch.nn as nn
from readme_tables import block_params, millions, pooled_size_table

from mmseg_rga.compat import cpu_autocast_dtypes
from mmseg_rga.models import ChannelRGA, FixedSizePool, RGABlock, SpatialRGA, convert_official_rga
from mmseg_rga.testing import OfficialRGAModule, randomize_bn_stats
from mmseg_rga.visualization import capture_gates

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


def block_params_formula(c, n, order, r_c=8, r_s=8, r_d=8, **kw):
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
    assert n_params(block) == block_params_formula(16, 36, order, 4, 4, 2)
    with capture_gates(block) as gates:
        block(x)
    gates = gates['']
    assert ('spatial' in gates) == has_s and ('channel' in gates) == has_c
    if has_s:
        assert gates['spatial'].shape == (2, 1, 6, 6)
    if has_c:
        assert gates['channel'].shape == (2, 16)
    assert not hasattr(block, 'last_spatial_gate') and not hasattr(block, 'gates')


@pytest.mark.parametrize('use_relation,use_appearance', [(False, True), (True, False)])
def test_ablations_do_not_build_unused_layers(use_relation, use_appearance):
    block = RGABlock(16, (6, 6), order='SC', ratio_channel=4, ratio_spatial=4,
                     use_relation=use_relation, use_appearance=use_appearance)
    for branch in (block.spatial, block.channel):
        for name in ('theta', 'phi', 'relation'):
            assert hasattr(branch, name) == use_relation
        assert hasattr(branch, 'appearance') == use_appearance
    assert n_params(block) == block_params_formula(16, 36, 'SC', 4, 4, 8, relation=use_relation,
                                           appearance=use_appearance)
    assert block(_x()).shape == (2, 16, 6, 6)


def _meta_params(*args, **kwargs):
    """Parameters of an RGABlock built on the meta device (no memory, no init cost)."""
    with torch.device('meta'):
        return n_params(RGABlock(*args, **kwargs))


def test_paper_sized_parameter_counts():
    """Each RGA-S / RGA-C / RGA-SC count of docs/benchmarks.md's block table; the closed form."""
    table = block_params()
    assert {(2048, 97), (2048, 33), (512, 33)} <= set(table)
    for (channels, side), counts in table.items():
        built = tuple(_meta_params(channels, side, order=o) for o in ('S', 'C', 'SC'))
        assert built == counts, (channels, side)
        assert counts[2] == block_params_formula(channels, side * side, 'SC')


def test_pooled_size_table():
    """configs/rga/README.md: RGA-SC (M) per pooled size on the 512- and 2048-channel maps."""
    for side, (on_512, on_2048) in pooled_size_table().items():
        assert millions(_meta_params(512, side)) == on_512, side
        assert millions(_meta_params(2048, side)) == on_2048, side


OFFICIAL_GEOMETRY = dict(c=16, h=5, w=6)  # N = 30 nodes, C = 16; ratios 4, 4, 2 below


def _calibrate_bn(module, x, seed):
    """Random BN affine parameters; running statistics := the statistics of ``x``'s batch.

    Eval-mode BN then centres every pre-activation on the data, so each hidden ReLU of the
    logit MLP is alive for some nodes and dead for others and the gates depend on the input
    (with random running statistics, all of them can be dead and the gate constant).
    """
    randomize_bn_stats(module, seed)
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average: one batch gives exactly its statistics
    module.train()
    with torch.no_grad():
        module(x)
    for norm in norms:
        norm.momentum = 0.1


def official_and_block(order, train, dtype=torch.float64, seed=0):
    """A seeded official RGA_Module, an RGABlock loaded from its weights, an input, an upstream
    gradient; everything in ``dtype`` and in train or eval mode."""
    c, h, w = OFFICIAL_GEOMETRY.values()
    torch.manual_seed(seed)
    official = OfficialRGAModule(c, h * w, use_spatial='S' in order, use_channel='C' in order,
                                 cha_ratio=4, spa_ratio=4, down_ratio=2)
    x = _x(c=c, h=h, w=w, seed=seed) + 0.1
    _calibrate_bn(official, x, seed)
    block = RGABlock(c, (h, w), order=order, ratio_channel=4, ratio_spatial=4, ratio_logit=2)
    block.load_state_dict(convert_official_rga(official.state_dict()), strict=True)
    upstream = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed + 1))
    official, block = official.to(dtype).train(train), block.to(dtype).train(train)
    return official, block, x.to(dtype), upstream.to(dtype)


def outputs_and_grads(official, block, x, upstream):
    """Outputs, input gradients and weight gradients (by RGABlock name) of both modules."""
    x = x.detach().requires_grad_()
    results = []
    for module in (block, official):
        out = module(x)
        grads = torch.autograd.grad((out * upstream).sum(), [x, *module.parameters()])
        names = [n for n, _ in module.named_parameters()]
        weights = dict(zip(names, grads[1:]))
        if module is official:
            weights = dict(zip(convert_official_rga(weights), weights.values()))
        results.append((out.detach(), grads[0], weights))
    assert results[0][2].keys() == results[1][2].keys()
    return results


def all_weights_rel_err(ours, theirs):
    """One relative error over every weight gradient together: max |diff| / max |grad|.

    Per tensor it would be meaningless for the logit MLP's last conv: BN(1) after it is
    scale-invariant, so that gradient is analytically ~0 and its fp32 value is rounding noise.
    """
    diff = max((ours[k] - theirs[k]).abs().max().item() for k in theirs)
    scale = max(theirs[k].abs().max().item() for k in theirs)
    return diff / scale


def _gates(block, x):
    """The block's gates at its native size (pooling is the identity there)."""
    gates = {}
    if block.spatial is not None:
        gates['spatial'] = block.spatial(x)
        x = x * gates['spatial']
    if block.channel is not None:
        gates['channel'] = block.channel(x)
    return gates


@pytest.mark.parametrize('order', ['S', 'C', 'SC'])
@pytest.mark.parametrize('train', [True, False])
def test_official_weights_convert_and_match(order, train):
    """Seeded; float64 per tensor at 1e-10; float32 at tolerances that hold over 500 seeds, the
    weight gradients compared together (see all_weights_rel_err)."""
    official, block, x, upstream = official_and_block(order, train, torch.float64)
    ours, theirs = outputs_and_grads(official, block, x, upstream)
    assert _max_rel_err(ours[0], theirs[0]) < 1e-12
    assert _max_rel_err(ours[1], theirs[1]) < 1e-10
    for name, grad in ours[2].items():
        assert _max_rel_err(grad, theirs[2][name]) < 1e-10, name
    # the gates depend on the input: a different x gives different gates, spread over nodes
    with torch.no_grad():
        gates, other = _gates(block, x), _gates(block, x.flip(-1) * 1.5)
    for kind, gate in gates.items():  # over 500 seeds: std >= 0.09, change >= 0.21
        assert gate.std() > 0.02, kind
        assert (gate - other[kind]).abs().max() > 0.05, kind

    ours, theirs = outputs_and_grads(*official_and_block(order, train, torch.float32))
    assert _max_rel_err(ours[0], theirs[0]) < FP32_TOL['out']
    assert _max_rel_err(ours[1], theirs[1]) < FP32_TOL['input grad']
    assert all_weights_rel_err(ours[2], theirs[2]) < FP32_TOL['weight grads']


#: fp32 tolerances: 2x the worst error over seeds 0..499 of every order and mode (out 6.0e-6,
#: input grad 5.7e-6, all weight grads 5.1e-6; float64 per tensor 6.8e-12), measured with a
#: scratch loop over official_and_block(order, train, dtype, seed) outside the suite
FP32_TOL = {'out': 1.2e-5, 'input grad': 1.2e-5, 'weight grads': 1.2e-5}


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
    with capture_gates(block) as gates:
        out = block(x)
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert gates['']['spatial'].shape == (batch, 1) + size
    assert gates['']['channel'].shape == (batch, 8)
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


#: mean relative error of the autocast output at seed 0, measured: bf16 5.3e-3, fp16 6.9e-4
#: (seeds 0-2: at most 6.4e-3 and 8.1e-4); the tolerances are ~1.9x the seed-0 value
AUTOCAST_TOL = {torch.bfloat16: 1e-2, torch.float16: 1.3e-3}


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast_is_finite_and_close_at_97x97(dtype):
    """N = 9409 nodes; relation values are far outside fp16's range, the path stays fp32."""
    if dtype not in cpu_autocast_dtypes():
        pytest.skip(f'CPU autocast of torch {torch.__version__} does not run {dtype}')
    torch.manual_seed(0)
    block = RGABlock(64, (97, 97), order='SC')
    x = 3 * torch.relu(torch.randn(1, 64, 97, 97))
    relation_dtypes = []
    for branch in (block.spatial, block.channel):
        branch.relation.register_forward_hook(lambda m, i, o: relation_dtypes.append(o.dtype))
    with torch.no_grad():
        ref = block(x)
        with torch.autocast('cpu', dtype=dtype):
            out = block(x)
    assert torch.isfinite(out).all()
    assert out.dtype in (dtype, torch.float32)
    assert relation_dtypes == [torch.float32] * 4  # fp32 run, then the autocast run
    rel = ((out.float() - ref).abs().mean() / ref.abs().mean()).item()
    assert rel < AUTOCAST_TOL[dtype], rel


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


def _branch_blocks(block):
    """'S' and 'C' blocks holding the spatial / channel weights of ``block``."""
    cfg = dict(in_channels=block.in_channels, pooled_size=block.pooled_size, ratio_channel=4,
               ratio_spatial=4, ratio_logit=2, align_corners=block.pool.align_corners)
    state = block.state_dict()
    singles = []
    for order, prefix in (('S', 'spatial.'), ('C', 'channel.')):
        single = RGABlock(order=order, **cfg)
        single.load_state_dict({k: v for k, v in state.items() if k.startswith(prefix)})
        singles.append(single.eval())
    return singles


def _calibrated_block(order, size, align_corners=True):
    torch.manual_seed(0)
    block = RGABlock(16, (5, 5), order=order, ratio_channel=4, ratio_spatial=4, ratio_logit=2,
                     align_corners=align_corners)
    _calibrate_bn(block, _x(c=16, h=size[0], w=size[1], seed=3) + 0.1, seed=0)
    return block.eval()


@pytest.mark.parametrize('size', [(5, 5), (9, 13)])
def test_cs_and_parallel_values_from_single_branches(size):
    """'CS' = S-block after C-block; 'parallel' = x * a_s(x) * a_c(x), so parallel(x) * x equals
    S-block(x) * C-block(x); both with the weights of the combined block, pooled or not."""
    x = _x(c=16, h=size[0], w=size[1], seed=1) + 0.1
    with torch.no_grad():
        block_cs = _calibrated_block('CS', size)
        single_s, single_c = _branch_blocks(block_cs)
        out_cs = block_cs(x)
        torch.testing.assert_close(out_cs, single_s(single_c(x)), rtol=1e-5, atol=1e-6)
        block_par = _calibrated_block('parallel', size)
        single_s, single_c = _branch_blocks(block_par)
        out_par = block_par(x)
        torch.testing.assert_close(out_par * x, single_s(x) * single_c(x), rtol=1e-5, atol=1e-6)
        # not vacuous: the orders differ (the same weights in S-then-C order give another map)
        block_sc = RGABlock(16, (5, 5), order='SC', ratio_channel=4, ratio_spatial=4,
                            ratio_logit=2, align_corners=True).eval()
        block_sc.load_state_dict(block_cs.state_dict())
        assert (block_sc(x) - out_cs).abs().max() > 1e-3
        assert (out_par - single_c(single_s(x))).abs().max() > 1e-3
