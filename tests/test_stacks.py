"""Declared ranges equal tested ones: setup.py's python_requires, requirements/runtime.txt, the
two pin files CI installs (requirements/pinned.txt, requirements/floor.txt), the Makefile's floor
Python and the "Tested stacks" table of docs/get_started.md say the same thing."""
import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]


def requirements(name):
    lines = (REPO / 'requirements' / f'{name}.txt').read_text().splitlines()
    reqs = [Requirement(ln.split('#')[0]) for ln in lines if ln.strip() and ln[0] != '#']
    return {r.name: r.specifier for r in reqs}


def pinned(name, package):
    (spec,) = requirements(name)[package]
    assert spec.operator == '==', (name, package, spec)
    return Version(spec.version)


def lower_bound(spec: SpecifierSet) -> Version:
    (low,) = [Version(s.version) for s in spec if s.operator == '>=']
    return low


def python_requires() -> SpecifierSet:
    return SpecifierSet(re.search(r"python_requires='([^']+)'",
                                  (REPO / 'setup.py').read_text()).group(1))


def floor_python() -> str:
    return re.search(r'versions/(3\.\d+)\.\*/bin', (REPO / 'Makefile').read_text()).group(1)


def test_runtime_range_starts_at_the_floor_and_holds_the_main_stack():
    runtime = requirements('runtime')
    for package in ('torch', 'mmcv', 'mmengine', 'mmsegmentation'):
        floor, main = pinned('floor', package), pinned('pinned', package)
        assert floor in runtime[package] and main in runtime[package], package
        low = lower_bound(runtime[package])
        assert (low.major, low.minor) == (floor.major, floor.minor), (package, low, floor)
    assert lower_bound(runtime['numpy']).major == 1 and '<2' in str(requirements('floor')['numpy'])


def test_python_floor_is_the_floor_stacks_python():
    assert lower_bound(python_requires()) == Version(floor_python())
    assert Version('3.11') in python_requires()  # the main stack


def test_tested_stacks_table_names_the_pins():
    text = (REPO / 'docs' / 'get_started.md').read_text()
    table = text[text.index('## Tested stacks'):]
    rows = {row.split('|')[1].strip().split()[0]: row for row in table.splitlines()
            if row.startswith('| main') or row.startswith('| floor')}
    assert str(pinned('pinned', 'torch')) in rows['main']
    assert str(pinned('floor', 'torch')) in rows['floor']
    assert f'| {floor_python()} |' in rows['floor']
    for package in ('mmcv', 'mmengine', 'mmsegmentation'):
        assert str(pinned('floor', package)) in rows['floor']
        assert str(pinned('pinned', package)) in rows['main']

