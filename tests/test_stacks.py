"""Declared ranges equal tested ones, and the README's GPU recipe is the floor stack CI builds.

setup.py's python_requires, requirements/runtime.txt, the main stack's pins
(requirements/pinned.txt), the floor stack (the README's gpu-recipe block, which
tools/setup_floor_env.sh runs, and the Makefile's floor Python) and the "Tested stacks" table of
docs/get_started.md say the same thing."""
import os
import re
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
FLOOR_SCRIPT = REPO / 'tools' / 'setup_floor_env.sh'


def requirements(name):
    lines = (REPO / 'requirements' / f'{name}.txt').read_text().splitlines()
    reqs = [Requirement(ln.split('#')[0]) for ln in lines if ln.strip() and ln[0] != '#']
    return {r.name: r.specifier for r in reqs}


def pinned(package):
    (spec,) = requirements('pinned')[package]
    assert spec.operator == '==', (package, spec)
    return Version(spec.version)


def readme_recipe(text=None):
    """The lines of the README's gpu-recipe block."""
    text = (REPO / 'README.md').read_text() if text is None else text
    block = text[text.index('<!-- gpu-recipe -->'):].split('```shell\n', 1)[1].split('```')[0]
    return block.splitlines()


def recipe_pin(package):
    (line,) = [ln for ln in readme_recipe() if f' {package}==' in ln]
    return Version(re.search(rf'{package}==([\d.]+)', line).group(1))


def lower_bound(spec: SpecifierSet) -> Version:
    (low,) = [Version(s.version) for s in spec if s.operator == '>=']
    return low


def python_requires() -> SpecifierSet:
    return SpecifierSet(re.search(r"python_requires='([^']+)'",
                                  (REPO / 'setup.py').read_text()).group(1))


def floor_python() -> str:
    return re.search(r'versions/(3\.\d+)\.\*/bin', (REPO / 'Makefile').read_text()).group(1)


def floor_print(readme: Path = None):
    env = dict(os.environ, **({'README': str(readme)} if readme else {}))
    return subprocess.run(['bash', str(FLOOR_SCRIPT), '--print'], env=env, capture_output=True,
                          text=True)


def test_runtime_range_starts_at_the_floor_and_holds_the_main_stack():
    runtime = requirements('runtime')
    for package in ('torch', 'mmcv'):
        floor, main = recipe_pin(package), pinned(package)
        assert floor in runtime[package] and main in runtime[package], package
        low = lower_bound(runtime[package])
        assert (low.major, low.minor) == (floor.major, floor.minor), (package, low, floor)
    for package in ('mmengine', 'mmsegmentation'):  # the floor resolves the range's low end
        assert lower_bound(requirements('runtime')[package]) == pinned(package), package
    assert lower_bound(runtime['numpy']).major == 1 and '<2' in str(requirements('gpu')['numpy'])


def test_python_floor_is_the_floor_stacks_python():
    assert lower_bound(python_requires()) == Version(floor_python())
    assert Version('3.11') in python_requires()  # the main stack


def test_tested_stacks_table_names_the_pins():
    text = (REPO / 'docs' / 'get_started.md').read_text()
    table = text[text.index('## Tested stacks'):]
    rows = {row.split('|')[1].strip().split()[0]: row for row in table.splitlines()
            if row.startswith('| main') or row.startswith('| floor')}
    assert str(pinned('torch')) in rows['main']
    assert str(recipe_pin('torch')) in rows['floor']
    assert f'| {floor_python()} |' in rows['floor']
    assert str(recipe_pin('mmcv')) in rows['floor']
    for package in ('mmcv', 'mmengine', 'mmsegmentation'):
        assert str(pinned(package)) in rows['main']
    for package in ('mmengine', 'mmsegmentation'):
        assert str(lower_bound(requirements('runtime')[package])) in rows['floor']


def test_floor_env_runs_the_readme_recipe_with_two_substitutions():
    """What `make env-floor` runs is the README's block: the torch line without its CUDA index,
    the mmcv line with the compiled wheel; every other line verbatim, in order."""
    result = floor_print()
    assert result.returncode == 0, result.stderr
    ran, printed = result.stdout.splitlines(), readme_recipe()
    assert len(ran) == len(printed)
    changed = [(a, b) for a, b in zip(printed, ran) if a != b]
    assert changed == [
        (printed[0], f'pip install torch=={recipe_pin("torch")}'),
        (printed[1], printed[1].split(' mmcv==')[0] + ' MMCV_WHEEL'),
    ]
    assert '-c requirements/gpu.txt' in printed[1] and '-c requirements/gpu.txt' in printed[2]
    assert 'python tools/collect_env.py' in printed  # fails when numpy does not fit torch


@pytest.mark.parametrize('edit', [
    ('--index-url https://download.pytorch.org/whl/cu121', '-i https://example.invalid'),
    (' -f https://download.openmmlab.com', ' --find-links https://download.openmmlab.com'),
])
def test_floor_env_refuses_a_recipe_it_cannot_substitute(tmp_path, edit):
    readme = tmp_path / 'README.md'
    readme.write_text((REPO / 'README.md').read_text().replace(*edit))
    result = floor_print(readme)
    assert result.returncode == 1 and "gpu-recipe block needs" in result.stderr


def test_the_recipe_keeps_numpy_1_under_a_torch_built_for_it():
    """On a torch older than 2.3 (built against numpy 1: the floor), numpy is 1.x."""
    import numpy
    import torch
    if Version(torch.__version__.split('+')[0]) >= Version('2.3'):
        pytest.skip(f'torch {torch.__version__} is built against numpy 2')
    assert Version(numpy.__version__).major == 1
