"""gpu_check.py's budget and order (mmseg_rga/analysis/gpu_report.py), on a fake clock.

No case runs on a device here: the cases advance a fake clock by the seconds they "take", and
the tool's ``main`` runs with CUDA reported present and its cases replaced by such cases.
"""
import importlib.util
from pathlib import Path

import pytest

from mmseg_rga.analysis.gpu_report import Budget, Case, run_cases, summary

TOOL = Path(__file__).resolve().parents[1] / 'tools' / 'analysis_tools' / 'gpu_check.py'


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _cases(clock, seconds, ran):
    """One case per entry of ``seconds``: it records that it ran and takes that long."""
    def make(i, took):
        def run():
            ran.append(i)
            clock.now += took
            return f'took {took}', '-', True
        return Case('train', f'case {i}', run)
    return [make(i, took) for i, took in enumerate(seconds)]


def _tool():
    spec = importlib.util.spec_from_file_location('gpu_check', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_case_starts_once_the_budget_is_spent():
    clock, ran = FakeClock(), []
    budget = Budget(25, clock)
    rows = run_cases(_cases(clock, [10, 10, 10, 10, 10], ran), budget)
    assert ran == [0, 1, 2]  # the third starts at 20 s < 25 s and overruns to 30 s
    assert [r['status'] for r in rows] == ['ok'] * 3 + ['skipped'] * 2
    assert [r['seconds'] for r in rows] == [10, 10, 10, None, None]
    assert rows[3]['measured'] == 'not run: the budget of 25 s was spent'
    assert summary(rows, budget) == (
        '3 ok, 0 FAIL, 2 skipped (2 for the budget); 30 s of a 25 s budget')
    clock, ran = FakeClock(), []  # spent at exactly 20 s: the third does not start
    run_cases(_cases(clock, [10, 10, 10], ran), Budget(20, clock))
    assert ran == [0, 1]


def test_a_case_that_raises_fails_and_the_run_goes_on():
    clock, ran = FakeClock(), []
    cases = _cases(clock, [5, 5], ran)

    def broken():
        clock.now += 3
        raise RuntimeError('CUDA out of memory')
    cases.insert(1, Case('infer', 'broken', broken))
    rows = run_cases(cases, Budget(None, clock))
    assert [r['status'] for r in rows] == ['ok', 'FAIL', 'ok'] and ran == [0, 1]
    assert rows[1]['seconds'] == 3 and rows[1]['measured'] == 'RuntimeError: CUDA out of memory'


def test_budget_must_be_positive():
    with pytest.raises(ValueError, match='positive number of seconds; got 0'):
        Budget(0)


def test_subprocess_time_limit_follows_the_budget():
    clock = FakeClock()
    budget = Budget(300, clock)
    assert budget.limit(900) == 300
    clock.now = 290
    assert budget.limit(900) == 60  # at least a minute once started
    assert Budget(None, clock).limit(900) == 900


def test_main_honours_budget_and_writes_the_report(monkeypatch, tmp_path, capsys):
    tool, clock, ran = _tool(), FakeClock(), []
    monkeypatch.setattr(tool.torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(tool, 'header', lambda command: 'gpu_check on a test double')
    monkeypatch.setattr(tool, 'plan', lambda args, budget, appendix: _cases(clock, [40] * 4, ran))
    out = tmp_path / 'report.md'
    assert tool.main(['--budget', '100', '--out', str(out)], clock=clock) == 0
    assert ran == [0, 1, 2]
    lines = out.read_text().splitlines()
    assert lines[0] == 'gpu_check on a test double'
    assert '| train | case 3 | not run: the budget of 100 s was spent | - | skipped |  |' in lines
    assert '3 ok, 0 FAIL, 1 skipped (1 for the budget); 120 s of a 100 s budget' in lines
    assert 'error' not in capsys.readouterr().err


def test_main_rejects_a_budget_that_is_not_positive():
    tool = _tool()
    with pytest.raises(SystemExit) as exit_info:  # sys.exit('error: ...'): stderr, status 1
        tool.run_main(tool.main, ['--budget', '0'])
    assert exit_info.value.code == 'error: --budget must be a positive number of seconds; got 0'


def test_the_most_informative_cases_come_first():
    tool = _tool()
    args = type('Args', (), dict(only=['train', 'infer', 'slide', 'ddp', 'benchmarks'],
                                 no_estimate=True))()
    names = [f'{c.check}: {c.name}' for c in tool.plan(args, Budget(None), [])]
    psp, base = (Path(c).stem for c in tool.TABLE6[0])
    assert names[:9] == [
        f'train: {psp}, fp32', f'train: {base}, fp32', f'train: {psp}, AMP', f'train: {base}, AMP',
        f'infer: {psp}, whole, 1024x2048, fp32', f'infer: {base}, whole, 1024x2048, fp32',
        f'infer: {psp}, slide, 1024x2048, fp32', f'infer: {base}, slide, 1024x2048, fp32',
        f'slide: {psp}, 1024x2048, 769 crops, stride 513']
    assert names[9].startswith('train: fcn-rga_') and names[-3].startswith('ddp: ')
    trained = {n.split(': ')[1].rsplit(', ', 1)[0] for n in names if n.startswith('train')}
    assert len(trained) == 13  # the 10 RGA configs and the 3 baselines
    assert len(names) == 9 + 2 * 8 + 7 * 2 + 3
