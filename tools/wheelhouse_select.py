"""Which distributions go into a wheelhouse (tools/build_wheelhouse.sh runs this file).

``requirements WHEEL SKIP``: the requirements of the mmseg_rga wheel (its ``Requires-Dist``, no
extras), one per line, less the distributions named in SKIP (what the host brings).

``closure REPORT REQUIREMENTS SKIP``: walk the distributions of pip's installation report
(``pip install --dry-run --report``) from the requirements through their dependencies (markers
evaluated for the running Python), never into a distribution named in SKIP: the ones only SKIP's
distributions need stay out too. Prints the URL pip resolved for each, mmcv left out (the
wheelhouse has its own build).

It runs in the Python the wheelhouse is for, which has neither torch nor mmseg_rga's
requirements: the standard library and ``packaging``, or pip's own copy of it where ``packaging``
is not installed (importing pip in a process that later imports setuptools, as torch's inductor
does, leaves distutils to the standard library on Python < 3.12 and setuptools refuses it).
"""
import json
import sys
import zipfile
from typing import Dict, Iterable, List, Set

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name


def _names(text: str) -> Set[str]:
    return {canonicalize_name(name) for name in text.split()}


def wheel_requirements(wheel: str, skip: Set[str]) -> List[str]:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith('.dist-info/METADATA'))
        lines = zf.read(meta).decode().splitlines()
    reqs = [Requirement(line.split(': ', 1)[1]) for line in lines
            if line.startswith('Requires-Dist: ')]
    return [str(r) for r in reqs if canonicalize_name(r.name) not in skip
            and not (r.marker and 'extra' in str(r.marker))]


def closure(report: Dict, roots: Iterable[str], skip: Set[str]) -> List[str]:
    """The sorted canonical names reached from ``roots`` without entering ``skip``."""
    meta = {canonicalize_name(i['metadata']['name']): i['metadata'] for i in report['install']}
    todo, keep = [Requirement(r).name for r in roots], set()
    while todo:
        name = canonicalize_name(todo.pop())
        if name in skip or name in keep:
            continue
        if name not in meta:
            raise SystemExit(f'error: {name} is required but not in the resolved set')
        keep.add(name)
        for line in meta[name].get('requires_dist', []):
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({'extra': ''}):
                todo.append(req.name)
    return sorted(keep)


def main(argv: List[str]) -> None:
    if argv[:1] == ['requirements'] and len(argv) == 3:
        print('\n'.join(wheel_requirements(argv[1], _names(argv[2]))))
    elif argv[:1] == ['closure'] and len(argv) == 4:
        with open(argv[1]) as f:
            report = json.load(f)
        with open(argv[2]) as f:
            roots = [line for line in f.read().splitlines() if line.strip()]
        urls = {canonicalize_name(i['metadata']['name']): i['download_info']['url']
                for i in report['install']}
        for name in closure(report, roots, _names(argv[3])):
            if name != 'mmcv':
                print(urls[name])
    else:
        raise SystemExit('usage: wheelhouse_select.py requirements WHEEL SKIP | '
                         'closure REPORT REQUIREMENTS SKIP')


if __name__ == '__main__':
    main(sys.argv[1:])
