"""What needs a newer torch than the floor stack's says so in one line instead of crashing or
estimating wrong: the memory estimator (fake tensors), its ``--amp`` (CPU autocast in fp16) and
the ONNX export's dynamo exporter (test_pytorch2onnx.py). The missing features are simulated on
a torch that has them, so each refusal is checked on every stack; where the torch really lacks
one, the tool itself runs."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmseg_rga.analysis import memory_estimate, segmentor_memory
from mmseg_rga.checks import InputError
from mmseg_rga.compat import FAKE_TENSOR_NEEDS, FAKE_TENSOR_TRACING, cpu_autocast_dtypes

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / 'tools' / 'analysis_tools' / 'estimate_memory.py'
DEMO = ROOT / 'configs' / 'demo' / 'pspnet-rga_r18-d8_synthetic.py'
NEEDS = '{} needs torch >= {}; this is torch {}'.format(*FAKE_TENSOR_NEEDS, torch.__version__)


def test_estimate_config_refuses_a_torch_whose_fake_tensors_crash(monkeypatch):
    monkeypatch.setattr(segmentor_memory, 'FAKE_TENSOR_TRACING', False)
    with pytest.raises(InputError) as err:
        segmentor_memory.estimate_config(None)  # refused before the config is read
    assert str(err.value) == NEEDS


def test_amp_estimate_refuses_a_cpu_autocast_without_fp16(monkeypatch):
    monkeypatch.setattr(memory_estimate, 'cpu_autocast_dtypes', lambda: {torch.bfloat16})
    with pytest.raises(InputError, match=re.escape(
            f'--amp estimates run CPU autocast in float16, which torch {torch.__version__} lacks')):
        with memory_estimate.autocast(True):
            pass
    with memory_estimate.autocast(False):  # fp32 needs nothing
        pass


def test_cpu_autocast_dtypes_are_what_autocast_runs():
    for dtype in cpu_autocast_dtypes():
        with torch.autocast('cpu', dtype=dtype):
            assert torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == dtype


@pytest.mark.skipif(FAKE_TENSOR_TRACING, reason='this torch traces fake tensors')
def test_estimate_memory_tool_refuses_in_one_line():
    proc = subprocess.run([sys.executable, str(TOOL), str(DEMO)], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f'error: {NEEDS}'
