"""The package as a user gets it: ``pip wheel .`` on a copy of the checkout builds a wheel that
holds ``mmseg_rga/`` and neither the tests nor the configs nor the tools, and that wheel,
installed into a new virtual environment, is what ``import mmseg_rga`` loads there.

The new environment sees this interpreter's packages (torch, mmcv, mmseg) through a ``.pth``
line, after its own site-packages, so the installed copy comes first; it runs outside the
checkout, so the checkout cannot be imported by accident.
"""
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOT_SHIPPED = ('.git', '.venv*', 'work_dirs', 'data', 'build', '*.egg-info', '__pycache__',
               '.pytest_cache', 'tmp')


def _run(argv, cwd):
    env = {'PATH': '/usr/bin:/bin', 'HOME': str(cwd), 'PIP_DISABLE_PIP_VERSION_CHECK': '1'}
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f'{argv}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}'
    return proc.stdout


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    """The wheel ``pip wheel`` builds from a copy of the checkout (what a fresh clone holds)."""
    root = tmp_path_factory.mktemp('wheel')
    source = root / 'mmseg_rga_src'
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*NOT_SHIPPED))
    _run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', source,
          '-w', root / 'dist'], cwd=root)
    (built,) = (root / 'dist').glob('mmseg_rga-*.whl')
    return built


@pytest.mark.slow
def test_wheel_holds_the_package_only(wheel):
    from mmseg_rga import __version__
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split('/', 1)[0] for name in names}
    assert tops == {'mmseg_rga', f'mmseg_rga-{__version__}.dist-info'}, tops
    assert {'mmseg_rga/__init__.py', 'mmseg_rga/models/heads/all_heads.py',
            'mmseg_rga/datasets/synthetic/writer.py', 'mmseg_rga/tooling/launch.py'} <= set(names)
    assert not [n for n in names if n.endswith(('.pyc', '.md')) or '/tests/' in n]


@pytest.mark.slow
def test_installed_wheel_is_what_imports(wheel, tmp_path):
    venv = tmp_path / 'venv'
    _run([sys.executable, '-m', 'venv', '--without-pip', venv], cwd=tmp_path)
    python = venv / 'bin' / 'python'
    site = Path(_run([python, '-c', 'import sysconfig; print(sysconfig.get_path("purelib"))'],
                     cwd=tmp_path).strip())
    (site / 'outer.pth').write_text('\n'.join(
        {sysconfig.get_path('purelib'), sysconfig.get_path('platlib')}) + '\n')
    _run([sys.executable, '-m', 'pip', '--python', python, 'install', '--no-deps', '--no-index',
          wheel], cwd=tmp_path)
    out = _run([python, '-c', 'import mmseg_rga; from mmseg.registry import MODELS; '
                "print(mmseg_rga.__file__); print('RGAPSPHead' in MODELS.module_dict)"],
               cwd=tmp_path).split()
    assert Path(out[0]).resolve() == (site / 'mmseg_rga' / '__init__.py').resolve(), out
    assert out[1] == 'True'
