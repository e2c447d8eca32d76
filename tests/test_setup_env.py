"""tools/setup_env.sh: where torch comes from (TORCH_INDEX_URL, TORCH_WHEEL) reaches pip.

A stub stands in for the venv's Python: it records every call and succeeds, so the script runs
through without installing anything (its mmcv check passes, so nothing is compiled)."""
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STUB = '''#!/usr/bin/env bash
echo "$*" >> "{log}"
[ "$1" = -c ] && echo cp311
exit 0
'''


def pip_calls(tmp_path, **env):
    venv, log = tmp_path / 'venv', tmp_path / 'calls.log'
    (venv / 'bin').mkdir(parents=True)
    stub = venv / 'bin' / 'python'
    stub.write_text(STUB.format(log=log))
    stub.chmod(0o755)
    result = subprocess.run(['bash', str(REPO / 'tools' / 'setup_env.sh')], cwd=tmp_path,
                            env=dict(os.environ, VENV=str(venv), PYTHON=str(stub), **env),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [line for line in log.read_text().splitlines() if ' pip ' in f' {line} ']


@pytest.mark.parametrize('env, torch_args', [
    ({}, 'install -q torch==2.13.0'),
    ({'TORCH_INDEX_URL': 'https://download.pytorch.org/whl/cpu'},
     'install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu'),
    ({'TORCH_WHEEL': '/wheels/torch-2.13.0-cp311-cp311-linux_x86_64.whl'},
     'install -q /wheels/torch-2.13.0-cp311-cp311-linux_x86_64.whl'),
])
def test_torch_source_reaches_pip(tmp_path, env, torch_args):
    calls = pip_calls(tmp_path, **env)
    assert calls[0].endswith(torch_args), calls[0]
    # every later install keeps that torch: the pin file constrains it
    assert all('-c requirements/pinned.txt' in call for call in calls[1:]), calls
