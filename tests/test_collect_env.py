"""tools/collect_env.py: the installation check the README prints after the GPU recipe."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / 'tools' / 'collect_env.py'


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('collect_env_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prints_the_stack_the_rga_modules_and_the_loaders():
    result = subprocess.run([sys.executable, str(TOOL)], capture_output=True, text=True,
                            cwd=REPO.parent)
    assert result.returncode == 0, result.stderr
    report = dict(line.split(': ', 1) for line in result.stdout.splitlines() if ': ' in line)
    assert report['PyTorch'] == torch.__version__
    assert report['mmcv'].endswith('(compiled ops)')
    count, names = report['RGA modules'].split(': ', 1)
    assert 'RGANeck' in names.split(', ') and 'RGAPSPHead' in names.split(', ')
    assert int(count) == len(names.split(', ')) >= 28  # the neck and the 27 heads
    assert "checkpoints, mmseg's tools/test.py, init_model" in report


def test_numpy_that_torch_cannot_use_is_one_line(tool, monkeypatch):
    """torch built against numpy 1 beside numpy 2: from_numpy raises 'Numpy is not available'."""
    def broken(array):
        raise RuntimeError('Numpy is not available')
    monkeypatch.setattr(torch, 'from_numpy', broken)
    with pytest.raises(tool.ToolError, match=r'does not work with torch .*requirements/gpu\.txt'):
        tool.check_numpy()


def test_mmcv_without_ops_is_one_line(tool, monkeypatch):
    monkeypatch.setitem(sys.modules, 'mmcv.ops', None)  # import mmcv.ops -> ImportError
    with pytest.raises(tool.ToolError, match='no compiled ops'):
        tool.check_mmcv()


def test_loaders_follow_the_torch_release(tool, monkeypatch):
    monkeypatch.setattr(torch, '__version__', '2.5.1+cu121')
    assert 'full unpickling' in tool.loading()["mmseg's tools/test.py, init_model"]
    monkeypatch.setattr(torch, '__version__', '2.6.0')
    assert 'weights-only' in tool.loading()["mmseg's tools/test.py, init_model"]
