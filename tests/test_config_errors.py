"""Config mistakes end in one ``error:`` line and exit status 1, not a traceback.

Each case runs ``tools/train.py`` as a user would (subprocess, outside the repo) and checks the
last line of its output, which is what the user reads.
"""
import sys
from pathlib import Path

import pytest

from mmseg_rga.tooling.errors import missing_config_message, nearest_config, one_line

sys.path.insert(0, str(Path(__file__).parent))
from test_tools import TINY_CONFIG, run_tool, tiny_options  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TRAIN = str(REPO / 'tools' / 'train.py')


def last_line_of_failure(args, cwd) -> str:
    rc, out = run_tool(args, cwd=cwd, check=False)
    assert rc == 1, out[-3000:]
    assert 'Traceback' not in out, out[-3000:]
    line = out.rstrip().splitlines()[-1]
    assert line.startswith('error: '), out[-3000:]
    print(line)
    return line


def test_nearest_config_by_name():
    assert nearest_config('configs/rga/pspnet_rga_cityscape.py') == (
        'configs/rga/pspnet_rga_cityscapes.py')
    assert nearest_config('my/fcn-rga_r101-d8_4xb2-80k_cityscapes.py') == (
        'configs/rga/fcn-rga_r101-d8_4xb2-80k_cityscapes-769x769.py')
    assert missing_config_message('x.py', root=str(REPO / 'no_such_dir')) == (
        'config file x.py does not exist')


def test_one_line_drops_keyerror_quotes_and_newlines():
    assert one_line(KeyError('Foo is not in the mmseg::model registry')) == (
        'Foo is not in the mmseg::model registry')
    assert one_line(ValueError('a\n  b')) == 'a b'


@pytest.mark.slow
def test_missing_config_names_the_nearest(tmp_path):
    line = last_line_of_failure([TRAIN, 'configs/rga/pspnet_rga_cityscape.py'], tmp_path)
    assert line == ('error: config file configs/rga/pspnet_rga_cityscape.py does not exist; '
                    'the nearest config under configs/ is configs/rga/pspnet_rga_cityscapes.py')


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / 'tiny.py'
    path.write_text(TINY_CONFIG)
    return path


def build_cmd(config, tmp_path, *options):
    return [TRAIN, str(config), '--work-dir', str(tmp_path / 'wd'), '--no-data-check',
            '--cfg-options', *tiny_options(tmp_path / 'data'), *options]


@pytest.mark.slow
def test_wrong_type_names_the_registry(tmp_path, tiny_config):
    line = last_line_of_failure(
        build_cmd(tiny_config, tmp_path, 'model.decode_head.type=RGAPSPHeadd'), tmp_path)
    assert line.startswith('error: RGAPSPHeadd is not in the mmseg::model registry.')


@pytest.mark.slow
def test_unknown_rga_cfg_key_names_the_key(tmp_path, tiny_config):
    line = last_line_of_failure(
        build_cmd(tiny_config, tmp_path, 'model.decode_head.rga_cfg.pooled_sise=33'), tmp_path)
    assert 'pooled_sise' in line


@pytest.mark.slow
def test_unknown_neck_key_names_the_key(tmp_path):
    config = REPO / 'configs' / 'rga' / 'fcn-rganeck_r101-d8_4xb2-80k_cityscapes-769x769.py'
    line = last_line_of_failure(
        [TRAIN, str(config), '--work-dir', str(tmp_path / 'wd'), '--no-data-check',
         '--cfg-options', 'model.pretrained=None', 'model.neck.pooled_sise=33'], tmp_path)
    assert 'pooled_sise' in line
