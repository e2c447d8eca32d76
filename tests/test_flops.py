"""FLOP counting: one RGA-SC block against a count by hand, and tools/analysis_tools/get_flops.py.

Conventions are mmengine's (1 FLOP = 1 multiply-add): a 1x1 conv costs Cin*Cout*positions, an
eval BatchNorm 2 per element, a bilinear resize 4 per output element; ReLU, sigmoid, means and the
gating products cost nothing.
"""
from pathlib import Path

import pytest
import torch
from tool_runner import run_python

from mmseg_rga.analysis import count_flops
from mmseg_rga.models import RGABlock

REPO = Path(__file__).resolve().parents[1]


def branch_by_hand(feat, nodes, d, k, logit_in, hidden):
    """theta, phi, appearance (1x1 conv + BN), relation (+ BN), the two logit convs (+ BN)."""
    embed = 3 * (feat * d * nodes + 2 * d * nodes)
    relation = min(4 * k * nodes * d, nodes * nodes * d + 2 * k * nodes * nodes) + 2 * k * nodes
    logit = logit_in * hidden * nodes + 2 * hidden * nodes + hidden * nodes + 2 * nodes
    return embed + relation + logit


def test_rga_sc_block_equals_a_count_by_hand():
    # C=16, pooled 5x5 (N=25), r_c=2, r_s=5, r_d=2, input (2, 16, 9, 13)
    block = RGABlock(16, (5, 5), order='SC', ratio_channel=2, ratio_spatial=5,
                     ratio_logit=2).eval()
    counts = count_flops(block, torch.randn(2, 16, 9, 13))
    # spatial: 25 nodes of 16 features, d=8, K=5, logit 1+5 -> 3 -> 1
    spatial = branch_by_hand(16, 25, 8, 5, 6, 3)
    # channel: 16 nodes of 25 features, d=5, K=8, logit 1+8 -> 4 -> 1
    channel = branch_by_hand(25, 16, 5, 8, 9, 4)
    relation = 4 * 5 * 25 * 8 + 4 * 8 * 16 * 5  # both factored (cheaper than materialized)
    # pool 9x13 -> 5x5 as A_h x A_w^T: columns first (9*5*13) then rows (5*9*5), per channel;
    # SC pools x and the spatially gated x
    pooling = 2 * 16 * (9 * 5 * 13 + 5 * 9 * 5)
    resize = 4 * 9 * 13  # the spatial gate back to 9x13
    assert (spatial, channel) == (15775, 10096)
    assert counts['relation'] == 2 * relation
    assert counts['pooling'] == 2 * pooling
    assert counts['flops'] == 2 * (spatial + channel + pooling + resize)
    assert counts['params'] == sum(p.numel() for p in block.parameters())


def test_relation_counts_the_cheaper_order():
    # 4*K*M*d > M^2*d + 2*K*M^2 when d is large and M small: 4 nodes of 64 features (channel
    # branch of a 2x2 map with C=4): d = 64 // 1
    block = RGABlock(4, (8, 8), order='C', ratio_channel=1, ratio_spatial=1,
                     ratio_logit=1).eval()
    counts = count_flops(block, torch.randn(1, 4, 8, 8))
    m, d, k = 4, 64, 4
    assert m * m * d + 2 * k * m * m < 4 * k * m * d
    assert counts['relation'] == m * m * d + 2 * k * m * m == 1152


def _tool(*args):
    return run_python([REPO / 'tools' / 'analysis_tools' / 'get_flops.py', *args], cwd=REPO)


def test_get_flops_block_sweep_matches_direct_counts():
    run = _tool('--block', 32, '--shape', 64, 96, '--sweep-pooled', 4, 6)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = [line.split('|')[1:-1] for line in run.stdout.splitlines()
            if line.startswith('| 4 ') or line.startswith('| 6 ')]
    for row in rows:
        size = int(row[0])
        block = RGABlock(32, size, order='SC', align_corners=True).eval()
        direct = count_flops(block, torch.zeros(1, 32, 8, 12))
        assert float(row[1]) == pytest.approx(direct['params'] / 1e6, abs=1e-3)
        assert float(row[2]) == pytest.approx(direct['flops'] / 1e9, abs=5e-3)
    assert len(rows) == 2


@pytest.mark.parametrize('args,match', [
    (('--shape', 0, 5, '--block', 8), '--shape needs two positive ints'),
    (('--shape', 8, 8), 'give a CONFIG or --block C'),
    (('missing.py', '--shape', 8, 8), 'error: config file missing.py does not exist; the nearest'),
])
def test_get_flops_bad_inputs_one_line_error(args, match):
    run = _tool(*args)
    assert run.returncode != 0 and 'Traceback' not in run.stderr
    assert match in run.stderr.strip().splitlines()[-1]


#: each RGA config with its ResNet-101 shrunk to a ResNet-18 (channels 64..512), so that tracing
#: takes a second; where the RGA blocks sit (head or neck) is the config's
SHRUNK = {
    'pspnet_rga_cityscapes.py': ('decode_head.rga', {
        'model.decode_head.in_channels': 512, 'model.decode_head.channels': 32}),
    'fcn-rganeck_r101-d8_4xb2-80k_cityscapes-769x769.py': ('neck.rga_blocks.0', {
        'model.neck.in_channels': [64, 128, 256, 512], 'model.decode_head.in_channels': 1024,
        'model.decode_head.channels': 32}),
}


def _config_model(config, pooled=None):
    """The config's segmentor as get_flops.py builds it (BN, no pretrained weights), shrunk,
    optionally with its RGA blocks built at pooled x pooled nodes through the config."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    from mmseg_rga.tooling.dist import revert_sync_bn_in_cfg
    cfg = Config.fromfile(str(REPO / 'configs' / 'rga' / config))
    cfg.merge_from_dict({'model.backbone.depth': 18, 'model.auxiliary_head.in_channels': 256,
                         'model.auxiliary_head.channels': 16, **SHRUNK[config][1]})
    init_default_scope('mmseg')
    revert_sync_bn_in_cfg(cfg.model)
    cfg.model.pretrained, cfg.model.backbone.init_cfg = None, None
    if pooled is not None:
        owner = cfg.model.neck if cfg.model.get('neck') else cfg.model.decode_head
        owner.rga_cfg.pooled_size = (pooled, pooled)
    return MODELS.build(cfg.model).eval()


@pytest.mark.parametrize('config', sorted(SHRUNK))
def test_sweep_pooled_on_configs_equals_the_model_built_at_that_size(config):
    """``get_flops.py CONFIG --sweep-pooled S``: each block rebuilds itself at S x S from its own
    arguments, wherever it sits; the row equals counting the config built with S x S nodes."""
    from mmseg_rga.analysis.flops import sweep_pooled
    inputs = torch.zeros(1, 3, 33, 33)  # D8: 5x5 maps
    model = _config_model(config)
    counts = count_flops(model, inputs)
    assert list(counts['blocks']) == [SHRUNK[config][0]]
    rows = sweep_pooled(model, counts, [3, 33])
    direct = count_flops(_config_model(config, pooled=3), inputs)
    keys = ('flops', 'relation', 'pooling', 'params')
    assert rows[3] == {key: direct[key] for key in keys}
    assert rows[33] == {key: counts[key] for key in keys}  # the configs' own 33x33
    assert rows[3]['params'] < counts['params']  # 3x3 nodes: smaller relation layers


@pytest.mark.slow
def test_get_flops_config_sweep_as_documented():
    """docs/benchmarks.md's command on the R-101 config, at a small input so it is quick."""
    run = _tool(REPO / 'configs' / 'rga' / 'pspnet_rga_cityscapes.py', '--shape', 65, 65,
                '--sweep-pooled', 17, 33)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = [line.split('|')[1:-1] for line in run.stdout.splitlines()
            if line.startswith(('| 17 ', '| 33 '))]
    params = float(run.stdout.split('params ')[1].split(' M')[0])
    assert [int(row[0]) for row in rows] == [17, 33]
    assert float(rows[1][1]) == params and float(rows[0][1]) < params  # 33: the config's own


def test_block_rebuilds_itself_from_its_own_arguments():
    """What the sweep relies on: every argument kept, only the changed one differs."""
    from mmseg_rga.checks import InputError
    from mmseg_rga.models.rga_cfg import rga_cfg_keys
    norm_cfg = dict(type='BN', momentum=0.3)
    block = RGABlock(16, (5, 5), order='CS', ratio_channel=2, ratio_spatial=5, ratio_logit=2,
                     use_appearance=False, norm_cfg=norm_cfg, act_cfg=dict(type='LeakyReLU'),
                     align_corners=True)
    assert list(block.init_args) == ['in_channels'] + rga_cfg_keys()  # all of __init__'s
    norm_cfg['momentum'] = 0.9  # the caller's dict changing later changes nothing
    rebuilt = block.rebuilt(pooled_size=7)
    expected = RGABlock(16, 7, order='CS', ratio_channel=2, ratio_spatial=5, ratio_logit=2,
                        use_appearance=False, norm_cfg=dict(type='BN', momentum=0.3),
                        act_cfg=dict(type='LeakyReLU'), align_corners=True)
    assert str(rebuilt) == str(expected) and rebuilt.pooled_size == (7, 7)
    assert ([(n, p.shape) for n, p in rebuilt.named_parameters()]
            == [(n, p.shape) for n, p in expected.named_parameters()])
    assert rebuilt.pool.align_corners and str(block.rebuilt()) == str(block)
    with pytest.raises(InputError, match=r"no arguments \['pooled'\]"):
        block.rebuilt(pooled=7)
