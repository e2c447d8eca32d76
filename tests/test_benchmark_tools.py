"""Smoke tests of the benchmark scripts: they run on tiny settings and print their tables.

No timing assertions: the numbers are the scripts' output, not something a test can check.
"""
import re
from pathlib import Path

import pytest
from tool_runner import run_python

TOOLS = Path(__file__).resolve().parents[1] / 'tools' / 'analysis_tools'


def _run(script, *args, timeout=600):
    proc = run_python([TOOLS / script, *args], timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def test_benchmark_slide_prints_ratio_and_matching_logits(tmp_path):
    rc, out, err = _run('benchmark_slide.py', '--shape', 96, 300, '--batch', 2,
                        '--crop-batch', 3, '--reps', 1, '--threads', 1)
    assert rc == 0, err[-3000:]
    # 96x300 at 128x128 crops, stride 85: one clipped row of 4 windows; 8 crops for 2 images
    assert '2 image(s) of 96x300' in out and '4 windows per image' in out
    assert re.search(r'mmseg \(1 window per call\)\s+\d+\.\d+\s+\d+\.\d+', out)
    assert re.search(r'batched \(3 crops per call\)\s+\d+\.\d+\s+\d+\.\d+', out)
    diff = float(re.search(r'max \|logit difference\|: (\S+)', out).group(1))
    assert diff < 1e-4
    assert re.search(r'batched / mmseg images/s: \d+\.\d+x', out)


def test_benchmark_slide_bad_config_exits_with_one_line(tmp_path):
    rc, out, err = _run('benchmark_slide.py', tmp_path / 'missing.py', '--reps', 1)
    assert rc == 1 and 'Traceback' not in err
    assert err.strip() == (f'error: config file {tmp_path / "missing.py"} does not exist; the '
                           'nearest config under configs/ is configs/rga/pspnet_rga_cityscapes.py')


@pytest.mark.slow
def test_benchmark_heads_two_heads_at_small_size():
    rc, out, err = _run('benchmark_heads.py', '--heads', 'psp', 'rga-psp', '--size', 9,
                        '--reps', 1, '--warmup', 0, '--threads', 1)
    assert rc == 0, err[-3000:]
    rows = {line.split('|')[1].strip(): [c.strip() for c in line.split('|')[2:-1]]
            for line in out.splitlines() if line.startswith('| ') and 'class' not in line}
    assert rows['psp'][0] == 'PSPHead' and rows['psp'][4] == '1.00' and rows['psp'][6] == '1.00'
    assert rows['rga-psp'][0] == 'RGAPSPHead' and rows['rga-psp'][1] == '33x33'
    assert float(rows['rga-psp'][2]) > float(rows['psp'][2])  # the RGA block adds parameters
    assert 'ratios to psp' in out


def test_benchmark_heads_rejects_unknown_head():
    rc, out, err = _run('benchmark_heads.py', '--heads', 'psp', 'nope')
    assert rc != 0 and "unknown head(s) ['nope']" in err
