"""Every registered ``RGA<Name>`` builds from mmseg 1.2.2's own config of ``<Name>`` with the
default rga_cfg and runs a forward: the type swapped in ``model.decode_head``, nothing else.

One config per head, an ADE20K 512x512 one where there is one (the shortest name). The
backbone (and neck) of each config runs once on a 64x64 image (configs with the same backbone
share it) and the RGA head runs on its features, in eval mode. OCRHead is only used in cascades
(``decode_head=[FCNHead, OCRHead]``): its stage runs on the output of the stage before it.
"""
import copy
import importlib.util
import re
from pathlib import Path

import mmseg
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_rga  # noqa: F401  (registers the modules)
from mmseg_rga.models.heads.all_heads import registered_rga_heads

CONFIGS = Path(mmseg.__file__).parent / '.mim' / 'configs'
IMAGE = (64, 64)
LARGER = {'LRASPPHead': (392, 392)}  # its image pool is a 49x49 AvgPool on the 1/8 map
_TYPE = re.compile(r"decode_head\s*=\s*dict\([^()]*?\btype\s*=\s*'(\w+)'")
_BASE = re.compile(r"_base_\s*=\s*(\[[^\]]*\]|'[^']*')", re.S)
_PACKAGES = re.compile(r"custom_imports\s*=\s*dict\(\s*imports\s*=\s*\[?\s*'(\w+)")

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures('one_thread')]


def _chain(path: Path, seen=()):
    """The texts of a config file and of its bases, the file first (depth first)."""
    text = path.read_text()
    texts = [text]
    base = _BASE.search(text)
    for name in re.findall(r"'([^']+\.py)'", base.group(1)) if base else []:
        parent = (path.parent / name).resolve()
        if parent.is_file() and parent not in seen:
            texts += _chain(parent, seen + (parent,))
    return texts


def _head_type(path: Path):
    """The decode head type the config sets (its own text first, then its bases), or None when
    it needs a package that is not installed (mmpretrain's backbones)."""
    texts = _chain(path)
    for package in {p for t in texts for p in _PACKAGES.findall(t)}:
        if importlib.util.find_spec(package) is None:
            return None
    return next((m.group(1) for m in map(_TYPE.search, texts) if m), None)


def _chosen_configs():
    """{base head name: config path} for every registered RGA head with an mmseg config: an
    ADE20K 512x512 one where there is one, else any; the shortest name first (the plain
    baseline of a method rather than a variant), then by name."""
    heads = {name[3:] for name in registered_rga_heads()}
    paths = sorted((p for p in CONFIGS.rglob('*.py') if '_base_' not in p.parts),
                   key=lambda p: ('ade20k-512x512' not in p.name, len(p.name), p.name))
    chosen = {}
    for path in paths:
        kind = _head_type(path)
        if kind in heads and kind not in chosen:
            chosen[kind] = path
    for kind in sorted(heads - set(chosen)):  # only in a cascade (OCRHead)
        chosen[kind] = next(p for p in paths if f"type='{kind}'" in ''.join(_chain(p))
                            and kind in _stage_types(Config.fromfile(str(p)).model))
    return chosen


def _stage_types(model_cfg):
    heads = model_cfg.decode_head
    return [h.type for h in heads] if isinstance(heads, list) else [heads.type]


@pytest.fixture(scope='module')
def chosen():
    if not CONFIGS.is_dir():
        pytest.skip(f'mmseg is installed without its configs ({CONFIGS})')
    return _chosen_configs()


def test_every_registered_head_has_an_mmseg_config(chosen):
    assert set(chosen) == {name[3:] for name in registered_rga_heads()}
    assert chosen['OCRHead'].name == 'ocrnet_hr18_4xb4-80k_ade20k-512x512.py'  # a cascade
    assert chosen['LightHamHead'].relative_to(CONFIGS).as_posix() == (
        'segnext/segnext_mscan-b_1xb16-adamw-160k_ade20k-512x512.py')
    assert chosen['PSPHead'].name == 'pspnet_r50-d8_4xb4-80k_ade20k-512x512.py'


_FEATURES = {}  # (backbone, neck, image size) -> the features of a random image


def _features(model_cfg, size):
    key = repr((model_cfg.backbone, model_cfg.get('neck'), size))
    if key not in _FEATURES:
        backbone_cfg = copy.deepcopy(model_cfg.backbone)
        backbone_cfg.pop('init_cfg', None)
        parts = [MODELS.build(backbone_cfg)]
        if model_cfg.get('neck'):
            parts.append(MODELS.build(copy.deepcopy(model_cfg.neck)))
        torch.manual_seed(0)
        out = torch.randn(1, 3, *size)
        with torch.no_grad():
            for part in parts:
                part.eval()  # mmseg's ResNet.train returns None, not the module
                out = part(out)
        _FEATURES[key] = out
    return _FEATURES[key]


def test_each_rga_head_builds_from_its_config_and_runs(chosen):
    init_default_scope('mmseg')
    failures = {}
    for name, path in sorted(chosen.items()):
        cfg = Config.fromfile(str(path))
        stages = copy.deepcopy(cfg.model.decode_head)
        stages = stages if isinstance(stages, list) else [stages]
        stages = stages[:_stage_types(cfg.model).index(name) + 1]  # a cascade: up to the head
        stages[-1]['type'] = f'RGA{name}'
        try:
            heads = [MODELS.build(stage).eval() for stage in stages]
            head = heads[-1]
            feats = _features(cfg.model, LARGER.get(name, IMAGE))
            with torch.no_grad():
                logits = heads[0](feats)
                for stage in heads[1:]:  # CascadeEncoderDecoder: each sees the previous output
                    logits = stage(feats, logits)
            if isinstance(logits, (tuple, list)):  # EncHead: (logits, SE-loss logits)
                logits = logits[0]
            assert head.rga.pooled_size == (33, 33)
            assert logits.shape[:2] == (1, head.out_channels), logits.shape
            assert torch.isfinite(logits).all()
        except Exception as err:  # noqa: BLE001 - every head is tried; all failures reported
            failures[name] = f'{path.relative_to(CONFIGS)}: {type(err).__name__}: {err}'
    assert not failures, '\n'.join(f'{k}: {v}' for k, v in failures.items())
