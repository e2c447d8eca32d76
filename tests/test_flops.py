"""FLOP counting: one RGA-SC block against a count by hand, and tools/analysis_tools/get_flops.py.

Conventions are mmengine's (1 FLOP = 1 multiply-add): a 1x1 conv costs Cin*Cout*positions, an
eval BatchNorm 2 per element, a bilinear resize 4 per output element; ReLU, sigmoid, means and the
gating products cost nothing.
"""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

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
    return subprocess.run([sys.executable, str(REPO / 'tools' / 'analysis_tools' / 'get_flops.py'),
                           *map(str, args)], capture_output=True, text=True, cwd=REPO)


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
    (('missing.py', '--shape', 8, 8), 'config not found'),
])
def test_get_flops_bad_inputs_one_line_error(args, match):
    run = _tool(*args)
    assert run.returncode != 0 and 'Traceback' not in run.stderr
    assert match in run.stderr.strip().splitlines()[-1]
