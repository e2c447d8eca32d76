"""mmseg_rga: Relation-Aware Global Attention (arXiv:1904.02998, Table 6) for MMSegmentation 1.x."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def read_version() -> str:
    """``__version__`` from mmseg_rga/version.py, without importing the package (no torch)."""
    namespace = {}
    exec((HERE / 'mmseg_rga' / 'version.py').read_text(), namespace)
    return namespace['__version__']


def read_requirements(name: str) -> list:
    lines = (HERE / 'requirements' / f'{name}.txt').read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith('#')]


setup(
    name='mmseg_rga',
    version=read_version(),
    description='Relation-Aware Global Attention (RGA) for MMSegmentation 1.x',
    long_description=(HERE / 'README.md').read_text() if (HERE / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmseg_rga', 'mmseg_rga.*']),
    python_requires='>=3.10',  # tested: 3.10 (floor stack) and 3.11 (main stack)
    install_requires=read_requirements('runtime'),
    extras_require={
        'tests': read_requirements('tests'),
        'optional': read_requirements('optional'),
    },
    license='Apache-2.0',  # the full text: LICENSE (as mmseg's)
    license_files=['LICENSE'],
    # no 'License ::' classifier: setuptools >= 77 deprecates them in favour of the SPDX name
    classifiers=[
        'Programming Language :: Python :: 3',
        'Operating System :: OS Independent',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
        'Topic :: Scientific/Engineering :: Image Recognition',
    ],
)
