"""tools/model_converters/convert_official_rga.py on a replica's checkpoint."""
import os.path as osp
import subprocess
import sys

import torch

from mmseg_rga.models import RGABlock
from mmseg_rga.testing import OfficialRGAModule, randomize_bn_stats

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(REPO, 'tools', 'model_converters', 'convert_official_rga.py')


def _run(*args):
    return subprocess.run([sys.executable, TOOL, *map(str, args)], capture_output=True,
                          text=True, cwd=REPO)


def test_converts_an_official_checkpoint(tmp_path):
    official = OfficialRGAModule(16, 30, cha_ratio=4, spa_ratio=4, down_ratio=2)
    randomize_bn_stats(official)
    official.eval()
    src = tmp_path / 'official.pth.tar'
    state = {f'module.rga_att4.{k}': v for k, v in official.state_dict().items()}
    state['module.fc.weight'] = torch.zeros(2, 2)  # other layers of the re-id network
    torch.save({'epoch': 3, 'state_dict': state}, src)
    dst = tmp_path / 'out' / 'rga.pth'
    proc = _run(src, dst, '--prefix', 'module.rga_att4.')
    assert proc.returncode == 0, proc.stderr
    block = RGABlock(16, (5, 6), order='SC', ratio_channel=4, ratio_spatial=4,
                     ratio_logit=2).eval()
    block.load_state_dict(torch.load(dst, weights_only=True)['state_dict'])
    x = torch.relu(torch.randn(2, 16, 5, 6))
    torch.testing.assert_close(block(x), official(x), rtol=0, atol=1e-6)
    proc = _run(src, tmp_path / 'b.pth', '--prefix', 'module.rga_att4.', '--dst-prefix', 'rga.')
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
