"""tools/deployment/mmdeploy_check.py: MMDeploy's export and ONNX Runtime run agree with PyTorch.

MMDeploy 1.3.1 lives in a venv of its own beside the floor stack (it pins protobuf and its wheels
stop at Python 3.11), so the end-to-end test runs where ``MMDEPLOY_PYTHON`` names that venv's
interpreter and is skipped elsewhere; without MMDeploy the tool says what it needs in one line.
"""
import os
import subprocess
from pathlib import Path

import pytest
from tool_runner import run_python

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / 'tools' / 'deployment' / 'mmdeploy_check.py'
CONFIG = 'configs/rga/fcn_rga_cityscapes.py'


def _has_mmdeploy() -> bool:
    return run_python(['-c', 'import mmdeploy']).returncode == 0


def test_without_mmdeploy_one_line_naming_the_version():
    if _has_mmdeploy():
        pytest.skip('MMDeploy is installed here')
    proc = run_python([TOOL, CONFIG, '--work-dir', 'unused'], cwd=REPO)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(
        'error: mmdeploy_check.py needs mmdeploy 1.3.1 (pip install mmdeploy==1.3.1)')


def test_missing_config_one_line(tmp_path):
    proc = run_python([TOOL, tmp_path / 'nope.py'], cwd=tmp_path)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1] == f"error: config not found: '{tmp_path}/nope.py'"


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get('MMDEPLOY_PYTHON'),
                    reason='MMDEPLOY_PYTHON names no interpreter with MMDeploy 1.3.1')
def test_mmdeploy_export_and_onnxruntime_match_pytorch(tmp_path):
    proc = subprocess.run([os.environ['MMDEPLOY_PYTHON'], str(TOOL), CONFIG, '--check-size',
                           '97', '300', '--work-dir', str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert (tmp_path / 'end2end.onnx').is_file()
    for size in ('128x256', '97x300'):  # one dynamic file
        assert f'MMDeploy onnxruntime vs PyTorch label map ({size}): 0.0000% of the pixels ' \
            'differ' in proc.stdout, proc.stdout
