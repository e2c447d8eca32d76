"""configs/rga/metafile.yaml read as mim and mmengine's inferencers read a model index:
``model-index.yml`` at the repo root imports the metafile,
``BaseInferencer._get_models_from_metafile`` yields its models, and a model is looked up by
``Name`` or ``Alias`` (lower case) and built from its ``Config``, as
``MMSegInferencer(model=...)`` does with mmseg's own index. Every RGA config of the repo is
there once; ``Weights`` and ``Results`` are null until something is trained."""
import os.path as osp
import re
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.fileio import load
from mmengine.infer import BaseInferencer

REPO = Path(__file__).resolve().parents[1]
MODELS = list(BaseInferencer._get_models_from_metafile(str(REPO)))
RGA_CONFIGS = sorted(str(p.relative_to(REPO)) for pattern in (
    'configs/rga/*-rga*.py', 'configs/rga/paper_protocol/*-rga*.py', 'configs/rga/ade20k/*.py')
    for p in REPO.glob(pattern))
DATASETS = {'CityscapesDataset': 'Cityscapes', 'ADE20KDataset': 'ADE20K'}


def lookup(model: str):
    """(config, weights) of ``model`` as mmengine's ``_load_model_from_metafile`` finds them."""
    model = model.lower()
    for meta in BaseInferencer._get_models_from_metafile(str(REPO)):
        aliases = meta.get('Alias', [])
        aliases = [aliases] if isinstance(aliases, str) else aliases
        if meta['Name'].lower() == model or model in [a.lower() for a in aliases]:
            return Config.fromfile(osp.join(REPO, meta['Config'])), meta['Weights']
    raise ValueError(f'Cannot find model: {model}')


def test_every_rga_config_is_indexed_once():
    assert sorted(m['Config'] for m in MODELS) == RGA_CONFIGS
    names = [m['Name'] for m in MODELS] + [a for m in MODELS for a in m.get('Alias', [])]
    assert len(names) == len(set(names))
    collections = {c['Name'] for c in load(str(REPO / 'configs/rga/metafile.yaml'))['Collections']}
    assert all(m['In Collection'] in collections for m in MODELS)


def test_names_follow_the_config_files():
    for m in MODELS:
        stem = Path(m['Config']).stem
        paper = '/paper_protocol/' in m['Config']
        assert m['Name'] == ('paper-protocol_' + stem if paper else stem)


def test_nothing_is_claimed_before_training():
    assert all(m['Weights'] is None and m['Results'] is None for m in MODELS)


@pytest.mark.parametrize('meta', MODELS, ids=[m['Name'] for m in MODELS])
def test_metadata_is_the_configs(meta):
    cfg, weights = lookup(meta['Name'])
    assert weights is None
    assert cfg.model.decode_head.type.startswith('RGA') or cfg.model.get('neck', {}).get(
        'type') == 'RGANeck'
    data = meta['Metadata']
    assert data['Training Data'] == DATASETS[cfg.train_dataloader.dataset.type]
    gpus = int(re.search(r'_(\d+)xb(\d+)-', meta['Config']).group(1))
    assert data['Batch Size'] == gpus * cfg.train_dataloader.batch_size


@pytest.mark.parametrize('alias', ['pspnet_rga_cityscapes', 'FCN_RGA_CITYSCAPES'])
def test_a_short_name_finds_its_config(alias):
    cfg, _ = lookup(alias)
    short = Config.fromfile(str(REPO / 'configs' / 'rga' / f'{alias.lower()}.py'))
    assert cfg.model == short.model and cfg.train_cfg == short.train_cfg
