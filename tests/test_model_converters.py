"""tools/model_converters/convert_official_rga.py on a replica's checkpoint, and the example of
docs/usage.md ("Converters"): the official rga_att4 weights into the C5 neck config they fit."""
import argparse
import logging
import os.path as osp
import shlex

import pytest
import torch
from doc_commands import collect
from mmengine.config import Config, DictAction
from tool_runner import run_python

from mmseg_rga.models import RGABlock
from mmseg_rga.testing import OfficialRGAModule, randomize_bn_stats

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(REPO, 'tools', 'model_converters', 'convert_official_rga.py')
PREFIX = 'backbone.rga_att4.'  # the official checkpoints' key of the module on C5


def _run(*args):
    return run_python([TOOL, *args], cwd=REPO)


def test_converts_an_official_checkpoint(tmp_path):
    official = OfficialRGAModule(16, 30, cha_ratio=4, spa_ratio=4, down_ratio=2)
    randomize_bn_stats(official)
    official.eval()
    src = tmp_path / 'official.pth.tar'
    state = {f'{PREFIX}{k}': v for k, v in official.state_dict().items()}
    state['cls.weight'] = torch.zeros(2, 2)  # other layers of the re-id network
    torch.save({'epoch': 3, 'state_dict': state}, src)
    dst = tmp_path / 'out' / 'rga.pth'
    proc = _run(src, dst, '--prefix', PREFIX)
    assert proc.returncode == 0, proc.stderr
    block = RGABlock(16, (5, 6), order='SC', ratio_channel=4, ratio_spatial=4,
                     ratio_logit=2).eval()
    block.load_state_dict(torch.load(dst, weights_only=True)['state_dict'])
    x = torch.relu(torch.randn(2, 16, 5, 6))
    torch.testing.assert_close(block(x), official(x), rtol=0, atol=1e-6)
    proc = _run(src, tmp_path / 'b.pth', '--prefix', PREFIX, '--dst-prefix', 'rga.')
    keys = torch.load(tmp_path / 'b.pth', weights_only=True)['state_dict']
    assert all(k.startswith('rga.spatial.') or k.startswith('rga.channel.') for k in keys)


def test_wrong_prefix_and_missing_file_exit_with_a_message(tmp_path):
    src = tmp_path / 'official.pth'
    torch.save(OfficialRGAModule(8, 4, cha_ratio=2, spa_ratio=2, down_ratio=1).state_dict(), src)
    proc = _run(src, tmp_path / 'o.pth', '--prefix', 'backbone.')
    assert proc.returncode != 0 and 'no official RGA_Module key starts with prefix' in proc.stderr
    assert 'Traceback' not in proc.stderr
    proc = _run(tmp_path / 'missing.pth', tmp_path / 'o.pth')
    assert proc.returncode != 0 and 'does not exist' in proc.stderr


def _documented():
    """docs/usage.md's converter command and the train command after it, as argv lists."""
    texts = [c.text for c in collect(['docs/usage.md'])]
    at = next(i for i, t in enumerate(texts) if 'convert_official_rga.py' in t)
    return shlex.split(texts[at]), shlex.split(texts[at + 1])


def _options(argv):
    """The ``--cfg-options`` of a train command, parsed as tools/train.py parses them."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    return parser.parse_known_args(argv)[0].cfg_options


def _neck_of(config, options):
    """The config's neck (SyncBN -> BN), inside a module as a segmentor holds it."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    from mmseg_rga.tooling.dist import revert_sync_bn_in_cfg
    cfg = Config.fromfile(osp.join(REPO, config))
    cfg.merge_from_dict(options)
    neck = cfg.model.neck.to_dict()
    revert_sync_bn_in_cfg(neck)
    init_default_scope('mmseg')
    model = torch.nn.Module()
    model.neck = MODELS.build(neck)
    return model


def _load_from(model, path):
    """What tools/train.py does with ``load_from``: fit the checkpoint, log, load it."""
    from mmseg_rga.tooling.checkpoint_fit import fit_checkpoint
    lines = []
    logger = logging.getLogger(f'converter-example-{id(lines)}')
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(type('Lines', (logging.Handler,), {'emit': lambda s, r: lines.append(
        r.getMessage())})())
    checkpoint = torch.load(path, weights_only=True)
    fit_checkpoint(model, checkpoint, 'load_from', str(path), logger=logger)
    model.load_state_dict(checkpoint['state_dict'])
    return lines


@pytest.mark.filterwarnings('ignore::UserWarning')
def test_the_documented_example_loads_rga_att4_into_the_c5_neck(tmp_path):
    convert, train = _documented()
    official = OfficialRGAModule(2048, 16 * 8)  # rga_att4: C5 of a 256x128 crop, stride 16
    randomize_bn_stats(official)
    state = {f'{PREFIX}{k}': v for k, v in official.state_dict().items()}
    state['backbone.conv1.weight'] = torch.zeros(64, 3, 7, 7)
    torch.save({'state_dict': state, 'epoch': 600}, tmp_path / 'official.pth.tar')
    tool_at = next(i for i, t in enumerate(convert) if t.endswith('convert_official_rga.py'))
    src, dst = convert[tool_at + 1], convert[tool_at + 2]
    proc = run_python([TOOL, *convert[tool_at + 1:]], cwd=tmp_path)
    assert proc.returncode == 0 and src == 'official.pth.tar', proc.stderr
    options = _options(train)
    assert options.pop('load_from') == dst
    config = next(t for t in train if t.startswith('configs/'))

    model = _neck_of(config, options)
    lines = _load_from(model, tmp_path / dst)
    assert not any('neck.rga_blocks.0 keeps its initialization' in ln for ln in lines), lines
    block = model.neck.rga_blocks[0].eval()
    x = torch.relu(torch.randn(1, 2048, 16, 8))
    torch.testing.assert_close(block(x), official.eval()(x), rtol=1e-4, atol=1e-5)

    default = _neck_of(config, {})  # the config's own 33x33 nodes: the weights do not fit
    lines = _load_from(default, tmp_path / dst)
    assert any('neck.rga_blocks.0 keeps its initialization' in ln and 'N=128' in ln
               for ln in lines), lines
