"""tools/analysis_tools/estimate_memory.py and mmseg_rga/analysis/{storage_trace, cuda_allocator,
cuda_autocast, memory_estimate, segmentor_memory, published_memory}.py: tiny models, CPU."""
import contextlib
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from tool_runner import run_python
from torch._subclasses.fake_tensor import FakeTensorMode

from mmseg_rga.analysis.cuda_allocator import CachingAllocator
from mmseg_rga.analysis.cuda_autocast import cuda_autocast_policy
from mmseg_rga.analysis.memory_estimate import (
    ALLOCATOR,
    autocast,
    ddp_bucket_sizes,
    replay,
    trace_train_step,
)
from mmseg_rga.analysis.storage_trace import ALLOC, FREE, StorageTrace
from mmseg_rga.compat import FAKE_TENSOR_NEEDS, FAKE_TENSOR_TRACING

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / 'tools' / 'analysis_tools' / 'estimate_memory.py'
DEMO = ROOT / 'configs' / 'demo' / 'pspnet-rga_r18-d8_synthetic.py'
MIB = 1 << 20

# fake tensors crash the interpreter on torch 2.0 and 2.1 (test_floor_refusals.py checks that
# the estimator refuses there in one line)
pytestmark = pytest.mark.skipif(not FAKE_TENSOR_TRACING,
                                reason='{} needs torch >= {}'.format(*FAKE_TENSOR_NEEDS))


def _tiny():
    # conv 3->4 3x3 (108 + 4), BN(4) (4 + 4; buffers 4 + 4 fp32 + one int64), conv 4->2 1x1 (8 + 2)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
                         nn.Conv2d(4, 2, 1))


PARAM_BYTES = (108 + 4 + 4 + 4 + 8 + 2) * 4  # 130 fp32 parameters
BUFFER_BYTES = (4 + 4) * 4 + 8


def _loss(model, amp, batch=2):
    x = torch.randn(batch, 3, 16, 16)
    target = torch.randint(0, 2, (batch, 16, 16))
    with autocast(amp):
        out = model(x)
    return F.cross_entropy(out, target)


def _trace(fake=True, amp=False, batch=2):
    with FakeTensorMode() if fake else contextlib.nullcontext():
        model = _tiny()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
        return trace_train_step(model, opt, lambda m, a: _loss(m, a, batch), amp)


def _total(trace, tag):
    return sum(trace.nbytes[s] for s in trace.nbytes if trace.tag[s] == tag)


@pytest.mark.parametrize('fake', [True, False])
def test_parameter_gradient_and_momentum_bytes_equal_a_hand_count(fake):
    trace = _trace(fake)
    assert _total(trace, 'parameters') == PARAM_BYTES + BUFFER_BYTES
    assert _total(trace, 'gradients') == PARAM_BYTES  # one fp32 gradient per parameter
    assert _total(trace, 'optimizer state') == PARAM_BYTES  # SGD momentum
    assert {trace.tag[s] for s in trace.persistent} == {'parameters', 'optimizer state'}
    # every storage the step made is freed by its end (a closed loop: iterations repeat)
    made = [s for kind, s in trace.events if kind == ALLOC]
    assert sorted(made) == sorted(s for kind, s in trace.events if kind == FREE)


def test_fake_trace_equals_a_real_cpu_trace():
    fake, real = _trace(fake=True), _trace(fake=False)
    for tag in ('parameters', 'gradients', 'optimizer state', 'activations'):
        assert _total(fake, tag) == _total(real, tag), tag
    assert abs(_total(fake, 'temporaries') - _total(real, 'temporaries')) <= 1024


def test_amp_keeps_fp32_gradients_and_halves_conv_activations():
    fp32, amp = _trace(amp=False), _trace(amp=True)
    assert _total(amp, 'gradients') == _total(fp32, 'gradients') == PARAM_BYTES
    assert _total(amp, 'activations') < _total(fp32, 'activations')


def test_breakdown_adds_up_to_the_peak_and_replays_a_hand_made_trace():
    trace = StorageTrace()
    trace.nbytes = {0: 1000, 1: 3 * MIB, 2: 600, 3: 2 * MIB}
    trace.tag = {0: 'parameters', 1: 'activations', 2: 'gradients', 3: 'temporaries'}
    trace.persistent = [0]
    trace.events = [(ALLOC, 1), (ALLOC, 2), (ALLOC, 3), (FREE, 1), (FREE, 3), (FREE, 2)]
    est = replay(trace, extra=[(700, 'gradients')])  # a DDP bucket
    # peak after alloc 3; params, bucket and gradient take one 512 B-rounded block each
    assert est.peak == 3 * 1024 + 5 * MIB
    assert est.breakdown == {'parameters': 1000, 'gradients': 1300, 'optimizer state': 0,
                             'activations': 3 * MIB, 'temporaries': 2 * MIB, ALLOCATOR: 772}
    assert sum(est.breakdown.values()) == est.peak
    assert est.tensors == 2300 + 5 * MIB


def _warm_cache_trace():
    """9.5, 10.5 and 10 MiB alive together. Cold (first iteration): 9.5 and 10.5 share a new
    20 MiB segment, 10 gets a 10 MiB one; 30 MiB allocated. Warm (steady state): 9.5 takes the
    cached 10 MiB segment whole (0.5 MiB left: too little to split), 10.5 splits the 20 MiB one
    and 10 needs a new segment: 30.5 MiB, the extra 0.5 MiB counted as allocator rounding."""
    trace = StorageTrace()
    trace.nbytes = {0: 19 * MIB // 2, 1: 21 * MIB // 2, 2: 10 * MIB}
    trace.tag = dict.fromkeys(trace.nbytes, 'activations')
    trace.events = [(ALLOC, 0), (ALLOC, 1), (ALLOC, 2), (FREE, 0), (FREE, 1), (FREE, 2)]
    return trace


def test_the_estimate_is_the_warm_second_iteration_not_the_cold_first(monkeypatch):
    from mmseg_rga.analysis import segmentor_memory
    cold, warm = replay(_warm_cache_trace(), iterations=1), replay(_warm_cache_trace())
    assert (cold.peak, cold.breakdown[ALLOCATOR], cold.reserved) == (30 * MIB, 0, 30 * MIB)
    assert (warm.peak, warm.breakdown[ALLOCATOR], warm.reserved) == (61 * MIB // 2, MIB // 2,
                                                                     40 * MIB)
    assert cold.tensors == warm.tensors == 30 * MIB
    # what estimate_config reports is that steady state
    monkeypatch.setattr(segmentor_memory, '_trace', lambda *a: (_warm_cache_trace(), [], 0))
    assert segmentor_memory.estimate_config(None).peak == warm.peak


def test_allocator_rounds_to_512_and_hands_out_whole_cached_blocks():
    alloc = CachingAllocator()
    alloc.malloc(0, 100)
    assert alloc.allocated == 512 and alloc.reserved == 2 * MIB  # small pool: 2 MiB segment
    alloc.malloc(1, 3 * MIB)  # 20 MiB segment, split: 17 MiB stay cached
    assert alloc.allocated == 512 + 3 * MIB and alloc.reserved == 22 * MIB
    alloc.free(1)
    alloc.malloc(2, 19 * MIB + MIB // 2)  # 0.5 MiB would be left: the whole 20 MiB block
    assert alloc.allocated == 512 + 20 * MIB and alloc.reserved == 22 * MIB
    alloc.free(2)
    alloc.malloc(3, 25 * MIB + 1)  # no cached block fits: a new segment, rounded to 2 MiB
    assert alloc.reserved == 22 * MIB + 26 * MIB and alloc.peak_allocated == 512 + 26 * MIB


def test_ddp_buckets_hold_one_copy_of_the_gradients():
    sizes = ddp_bucket_sizes(60 * MIB + 5)
    assert sizes[0] == MIB and max(sizes) == 25 * MIB and sum(sizes) == 60 * MIB + 5


def test_cuda_autocast_policy_casts_as_cuda_does_and_is_removed_on_exit():
    x = torch.randn(1, 4, 8, 8)
    w = torch.randn(4, 4, 3, 3)

    def dtypes():
        with torch.autocast('cpu', dtype=torch.float16):
            h = F.conv2d(x, w)
            return (h.dtype, F.interpolate(h, scale_factor=2.0, mode='bilinear').dtype,
                    F.softmax(h, 1).dtype, h.sum().dtype)

    with cuda_autocast_policy():
        assert dtypes() == (torch.float16, torch.float32, torch.float32, torch.float32)
    assert dtypes() == (torch.float16,) * 4  # torch's CPU policy is back


@pytest.mark.filterwarnings('ignore::UserWarning')
def test_estimate_grows_linearly_with_batch_size():
    from mmengine.config import Config

    from mmseg_rga.analysis.segmentor_memory import estimate_config
    cfg = Config.fromfile(str(DEMO))
    peaks = [estimate_config(cfg, 'train', batch_size=b, shape=(64, 64)).peak for b in (2, 4, 8)]
    step1, step2 = peaks[1] - peaks[0], peaks[2] - peaks[1]
    assert step1 > 0 and abs(step2 / step1 - 2) < 0.15, peaks


def test_published_memory_is_read_from_mmseg_metafiles(tmp_path):
    from mmseg_rga.analysis.published_memory import published_memory, validation_set
    from mmseg_rga.checks import InputError
    table = {p.name: p.memory_gb for p in validation_set()}
    assert table == {
        'fcn_r101-d8_4xb2-40k_cityscapes-769x769': 10.4,
        'pspnet_r101-d8_4xb2-40k_cityscapes-769x769': 10.9,
        'deeplabv3_r101-d8_4xb2-40k_cityscapes-769x769': 10.9,
        'nonlocal_r101-d8_4xb2-40k_cityscapes-769x769': 12.8,
        'danet_r101-d8_4xb2-40k_cityscapes-769x769': 12.8,
        'gcnet_r101-d8_4xb2-40k_cityscapes-769x769': 10.5,
        'pspnet_r101-d8_4xb2-amp-80k_cityscapes-512x1024': 5.34,
        'pspnet_r101-d8_4xb2-40k_cityscapes-512x1024': 9.6}
    (tmp_path / 'm').mkdir()
    (tmp_path / 'm' / 'metafile.yaml').write_text(
        'Models:\n- Name: a\n  Metadata:\n    Memory (GB): 1.5\n- Name: b\n  Metadata: {}\n')
    assert published_memory('m/a', str(tmp_path)).memory_bytes == int(1.5 * 2**30)
    with pytest.raises(InputError, match='no "Memory'):
        published_memory('m/b', str(tmp_path))
    with pytest.raises(InputError, match='c is not in'):
        published_memory('m/c', str(tmp_path))


def _run(*args):
    proc = run_python([TOOL, *args], timeout=300, cwd=ROOT.parent)
    return proc.returncode, proc.stdout, proc.stderr


def test_cli_reports_a_breakdown_that_adds_up():
    rc, out, err = _run(DEMO, '--shape', 64, 64, '--batch-size', 2, '--amp')
    assert rc == 0, err[-3000:]
    assert 'AMP fp16' in out and 'not seen: cuDNN' in out
    peak = out.split('peak (max_memory_allocated): ')[1].split()
    parts = [line.split()[-2:] for line in out.splitlines() if line.startswith('  ')]
    assert peak[1] == 'MiB' and {unit for _, unit in parts} == {'MiB'}  # small: MiB
    assert len(parts) == 6 and abs(sum(float(v) for v, _ in parts) - float(peak[0])) <= 0.03


def test_cli_errors_are_one_line():
    import importlib.util

    from mmseg_rga.tooling.errors import run_main
    spec = importlib.util.spec_from_file_location('estimate_memory_tool', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    cases = ((['configs/nope.py'], 'error: config file configs/nope.py does not exist'),
             ([str(DEMO), str(DEMO)], 'error: several configs need --table'),
             ([str(DEMO.with_name('pspnet_r18-d8_synthetic.py')), '--pooled-size', '9'],
              'has no rga_cfg'),
             ([str(DEMO), '--batch-size', '0'], 'error: --batch-size must be >= 1'))
    for argv, message in cases:
        with pytest.raises(SystemExit) as exit_:
            run_main(tool.main, argv)
        err = exit_.value.code  # sys.exit(str): printed on stderr, exit status 1
        assert isinstance(err, str) and message in err and len(err.splitlines()) == 1, err


def test_readme_mem_column_is_the_benchmarks_table():
    """README's Mem column repeats docs/benchmarks.md's --table output (33x33 or no RGA rows)."""
    import re
    docs = (ROOT / 'docs' / 'benchmarks.md').read_text()
    table = {name: (fp32, amp) for name, fp32, amp in re.findall(
        r'^\| `([^`/]+\.py)` \| (?:-|33x33) \| [\d.]+M \| ([\d.]+) \| ([\d.]+) \|', docs, re.M)}
    readme = re.findall(r'^\| ResNet-101[^|]* \| \[?`([^`]+\.py)`[^\n]* \| ([\d.]+) / ([\d.]+) \|$',
                        (ROOT / 'README.md').read_text(), re.M)
    assert len(readme) == 6
    for name, fp32, amp in readme:
        assert table[name] == (fp32, amp), name


@pytest.mark.filterwarnings('ignore::UserWarning')
def test_inference_has_no_gradients_and_ddp_buckets_add_one_gradient_copy():
    from mmengine.config import Config

    from mmseg_rga.analysis.segmentor_memory import estimate_config
    from mmseg_rga.checks import InputError
    cfg = Config.fromfile(str(DEMO))
    whole = estimate_config(cfg, 'whole', shape=(64, 96), batch_size=1)
    assert whole.breakdown['gradients'] == whole.breakdown['optimizer state'] == 0
    assert whole.breakdown['parameters'] > 0 and whole.breakdown['activations'] > 0
    one, two, four = (estimate_config(cfg, 'train', batch_size=2, shape=(32, 32), gpus=g)
                      for g in (1, 2, 4))
    grads = 4 * whole.params  # fp32, every parameter trains
    for ddp in (two, four):  # buckets from 2 GPUs on, the same at any count
        assert ddp.breakdown['gradients'] - one.breakdown['gradients'] == grads
        assert 0 <= ddp.peak - one.peak - grads < 2 * MIB  # a bucket's block: up to 2 MiB more
    assert two.peak == four.peak
    cfg.model.test_cfg = dict(mode='whole')
    with pytest.raises(InputError, match='needs crop_size and stride'):
        estimate_config(cfg, 'slide')


def test_a_model_that_reads_tensor_values_gets_a_one_line_input_error():
    from mmengine.config import Config

    from mmseg_rga.analysis.segmentor_memory import estimate_config
    from mmseg_rga.checks import InputError
    config = (Path(__file__).parents[1] / 'configs' / 'rga' / 'ade20k' /
              'segformer-rga_mit-b0_8xb2-160k_ade20k-512x512.py')
    with pytest.raises(InputError, match=r'reads tensor values .*mit\.py:\d+\), which fake '):
        estimate_config(Config.fromfile(str(config)), batch_size=1, shape=(64, 64))
