"""tools/wheelhouse_select.py: what goes into a wheelhouse, on a made-up resolution (the real
one: tests/test_wheelhouse.py)."""
import importlib.util
import json
import zipfile
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / 'tools' / 'wheelhouse_select.py'
spec = importlib.util.spec_from_file_location('wheelhouse_select', TOOL)
select = importlib.util.module_from_spec(spec)
spec.loader.exec_module(select)


def _item(name, *requires):
    return dict(metadata=dict(name=name, version='1.0', requires_dist=list(requires)),
                download_info=dict(url=f'https://files.example/{name}-1.0.whl'))


# mmcv and Plot need Pillow; only Plot needs Kiwi; markers that do not apply lead nowhere
REPORT = dict(install=[
    _item('mmcv', 'Pillow', 'pytest; extra == "tests"'),
    _item('mmengine', 'Plot>=3', 'mmcv', 'regex; sys_platform == "win32"'),
    _item('Plot', 'Pillow', 'Kiwi', 'numpy'),
    _item('Pillow'), _item('Kiwi'), _item('numpy')])


@pytest.mark.parametrize('skip,kept', [
    ({'numpy'}, ['kiwi', 'mmcv', 'mmengine', 'pillow', 'plot']),
    ({'numpy', 'plot'}, ['mmcv', 'mmengine', 'pillow']),  # Pillow stays: mmcv needs it
    ({'numpy', 'mmcv'}, ['kiwi', 'mmengine', 'pillow', 'plot']),
])
def test_closure_leaves_out_what_only_the_skipped_need(skip, kept):
    assert select.closure(REPORT, ['mmengine>=0.10'], skip) == kept


def test_a_requirement_outside_the_resolution_is_an_error():
    with pytest.raises(SystemExit, match='error: scipy is required but not in the resolved set'):
        select.closure(REPORT, ['mmengine', 'scipy'], set())


def test_requirements_of_the_wheel_less_the_hosts(tmp_path):
    wheel = tmp_path / 'mmseg_rga-0.1.0-py3-none-any.whl'
    with zipfile.ZipFile(wheel, 'w') as zf:
        zf.writestr('mmseg_rga-0.1.0.dist-info/METADATA', '\n'.join([
            'Name: mmseg_rga', 'Requires-Dist: torch<2.14,>=2.0', 'Requires-Dist: numpy<3,>=1.26',
            'Requires-Dist: opencv-python', 'Requires-Dist: scipy',
            'Requires-Dist: pytest; extra == "tests"']))
    assert select.wheel_requirements(str(wheel), select._names('torch numpy opencv_python')) \
        == ['scipy']


def test_main_prints_the_urls_but_mmcvs(tmp_path, capsys):
    (tmp_path / 'report.json').write_text(json.dumps(REPORT))
    (tmp_path / 'reqs.txt').write_text('mmengine\n\n')
    select.main(['closure', str(tmp_path / 'report.json'), str(tmp_path / 'reqs.txt'),
                 'numpy Plot'])
    assert capsys.readouterr().out.split() == [
        'https://files.example/mmengine-1.0.whl', 'https://files.example/Pillow-1.0.whl']
