"""tools/analysis_tools/gpu_check.py and its checks (mmseg_rga/analysis/device_checks.py,
device_timing.py).

No GPU here: the tool must say so in one line and exit 0; each check runs on the CPU at a tiny
size (fp32 against fp64, a shrunk R-101 config) and must notice a planted deviation. The budget
and the order of the cases: tests/test_gpu_budget.py.
"""
import importlib.util
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from mmseg_rga.analysis.device_checks import (
    compare_with_fp64,
    numerics_cases,
    slide_difference,
)
from mmseg_rga.analysis.device_timing import inference_time, train_iteration
from mmseg_rga.analysis.estimate_pool import EstimatePool
from mmseg_rga.analysis.gpu_report import Budget, Case, format_table, run_case
from mmseg_rga.compat import FAKE_TENSOR_NEEDS, FAKE_TENSOR_TRACING

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / 'tools' / 'analysis_tools' / 'gpu_check.py'
CONFIG = REPO / 'configs' / 'rga' / 'pspnet-rga_r101-d8_4xb2-40k_cityscapes-769x769.py'
# a narrow ResNetV1c-18 with the config's heads, on 64x64 inputs
TINY = {'model.backbone.depth': 18, 'model.backbone.stem_channels': 16,
        'model.backbone.base_channels': 16, 'model.decode_head.in_channels': 128,
        'model.decode_head.channels': 16, 'model.decode_head.pool_scales': (1, 2),
        'model.decode_head.rga_cfg.pooled_size': (4, 4), 'model.auxiliary_head.in_channels': 64,
        'model.auxiliary_head.channels': 16, 'model.data_preprocessor.size': (64, 64),
        'model.test_cfg.crop_size': (48, 48), 'model.test_cfg.stride': (32, 32)}


def _tool():
    spec = importlib.util.spec_from_file_location('gpu_check', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the host without CUDA')
def test_without_cuda_one_line_and_exit_0():
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    proc = subprocess.run([sys.executable, str(TOOL)], capture_output=True, text=True,
                          env=env, cwd='/', timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines() == [
        'gpu_check: no CUDA device on this host (torch.cuda.is_available() is False); '
        'nothing was checked.']


def test_train_check_covers_every_rga_table6_config():
    configs = {p.relative_to(REPO).as_posix() for p in (REPO / 'configs' / 'rga').rglob('*.py')
               if ('rga_' in p.name or 'rganeck_' in p.name) and 'cityscapes' in p.name}
    # the 80k mmseg configs build the 40k ones' models (test_configs.test_same_model_as), the
    # short names too; the C5 placement exists at 80k only
    distinct = {c for c in configs if not c.endswith('_cityscapes.py')
                and not (c.count('/') == 2 and '-80k_' in c and 'rganeck' not in c)}
    assert set(_tool().RGA_CONFIGS) == distinct and len(distinct) == 10


def test_numerics_cases_match_fp64_on_cpu():
    cases = numerics_cases(small=True)
    assert len(cases) == 5
    for name, (fn, module, inputs) in cases.items():
        err = compare_with_fp64(fn, module, inputs, 'cpu')
        assert max(err.values()) < 1e-4, (name, err)


def test_compare_with_fp64_sees_a_deviation_in_values_and_gradients():
    def off_on_device(_, x):  # right in fp64, 1e-3 off in fp32 (as a wrong kernel would be)
        return x * (2.0 if x.dtype == torch.float64 else 2.002)
    err = compare_with_fp64(off_on_device, None, [torch.randn(3, 4, dtype=torch.float64)], 'cpu')
    assert err['output'] == pytest.approx(1e-3, rel=1e-3)
    assert err['grad'] == pytest.approx(1e-3, rel=1e-3)
    fn, block, inputs = numerics_cases(small=True)['RGA-SC block 3x3 nodes, 9x9 map']
    broken = lambda b, x: fn(b, x) + (1e-3 * x if x.dtype == torch.float32 else 0)  # noqa: E731
    err = compare_with_fp64(broken, block, inputs, 'cpu')
    assert err['output'] > 1e-4 and err['grad'] > 1e-4


def _fake_times(monkeypatch, method, seconds):
    """device_timing's clock advanced by ``seconds`` (one per call) in the built model's
    ``method``; returns the input shapes its backbone saw."""
    from mmseg_rga.analysis import device_timing
    now, steps, seen = [0.0], iter(seconds), []

    def build(*args, **kwargs):
        cfg, model = build_model(*args, **kwargs)
        model.backbone.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape)))
        real = getattr(model, method)

        def timed(*a, **k):
            out = real(*a, **k)
            now[0] += next(steps)
            return out
        setattr(model, method, timed)
        return cfg, model
    build_model = device_timing.build_model
    monkeypatch.setattr(device_timing, 'build_model', build)
    monkeypatch.setattr(device_timing, 'clock', lambda: now[0])
    return seen


def test_train_iteration_on_cpu(monkeypatch):
    """The first iteration is not timed: iterations of 100 s, 1 s and 3 s take 2 s each."""
    _fake_times(monkeypatch, 'train_step', [100.0, 1.0, 3.0])
    res = train_iteration(CONFIG, 'cpu', batch=2, size=(64, 64), cfg_options=dict(TINY))
    assert len(res['losses']) == 3 and res['finite'] and res['peak_bytes'] is None
    assert len(set(res['losses'])) == 3  # different images, weights moved
    assert res['seconds_per_iter'] == 2.0


@pytest.mark.parametrize('mode,crops', [('whole', 1), ('slide', 8)])
def test_inference_time_runs_the_mode_asked(monkeypatch, mode, crops):
    """48x48 crops at stride 32 cover a 64x128 image in 2 x 4 windows; the warm-up call (not
    timed: 100 s) and the 2 timed ones (1 s and 3 s) each run the backbone once per window."""
    seen = _fake_times(monkeypatch, 'test_step', [100.0, 1.0, 3.0])
    res = inference_time(CONFIG, 'cpu', mode=mode, size=(64, 128), repeats=2,
                         cfg_options=dict(TINY))
    assert res['seconds_per_image'] == 2.0 and res['peak_bytes'] is None
    assert len(seen) == 3 * crops
    assert set(seen) == {(1, 3, 64, 128) if mode == 'whole' else (1, 3, 48, 48)}


def test_slide_difference_on_cpu():
    res = slide_difference(CONFIG, 'cpu', size=(64, 128), cfg_options=dict(TINY))
    assert res['logits'] < 1e-5 and res['argmax_differ'] == 0.0


def test_table_failed_rows_and_the_estimate():
    tool = _tool()

    def oom():
        raise RuntimeError('CUDA out of memory. Tried to allocate 2.00 GiB')
    row = run_case(Case('train', 'x, fp32', oom))
    assert row['status'] == 'FAIL' and 'RuntimeError: CUDA out of memory' in row['measured']
    table = format_table([row, run_case(Case('ddp', 'y', lambda: ('1 GPU', '>= 2 GPUs', None)))])
    assert table.splitlines()[2].startswith('| train | x, fp32 | RuntimeError: CUDA out of')
    assert '| FAIL |' in table.splitlines()[2] and '| skipped |' in table.splitlines()[3]
    assert tool._memory(3 * 2 ** 30, 2 * 2 ** 30) == (
        'max_memory_allocated 3.00 GiB', 'estimate 2.00 GiB (measured / estimate 1.50)')
    assert tool._estimate(SimpleNamespace(no_estimate=True), Budget(None), None) == (
        None, 'estimate left out (--no-estimate)')
    if not FAKE_TENSOR_TRACING:  # the train rows say why their estimate is missing
        assert tool.ESTIMATE_NA == ' ({} needs torch >= {})'.format(*FAKE_TENSOR_NEEDS)
        return
    assert tool.ESTIMATE_NA == ''

    class Late:
        def get(self, key, timeout):
            raise multiprocessing.TimeoutError
    assert tool._estimate(SimpleNamespace(no_estimate=False, estimates=Late()), Budget(None),
                          None) == (None, 'estimate not ready within the budget')


def test_estimates_come_from_worker_processes():
    if not FAKE_TENSOR_TRACING:
        pytest.skip('the estimator needs torch >= {1}'.format(*FAKE_TENSOR_NEEDS))
    tool = _tool()
    demo = str(REPO / 'configs' / 'demo' / 'pspnet-rga_r18-d8_synthetic.py')
    keys = [(demo, 'train', False, 2, (64, 64)), (demo, 'whole', False, 1, (64, 128)),
            (str(REPO / 'missing.py'), 'train', False, 2, (9, 9))]
    pool = EstimatePool(keys, workers=2)
    try:
        train, whole = (pool.get(key) for key in keys[:2])
        assert isinstance(train, int) and train > 0  # the estimator's peak, bytes
        assert 0 < whole < train  # inference: no gradients, no optimizer state
        # an estimate that fails leaves the row to what the GPU measured
        none, why = tool._estimate(SimpleNamespace(no_estimate=False, estimates=pool),
                                   Budget(None), keys[2])
        assert none is None and why.startswith('estimate failed: FileNotFoundError'), why
    finally:
        pool.close()
