"""Config mistakes end in one ``error:`` line and exit status 1, not a traceback.

Each case runs ``tools/train.py`` as a user would (subprocess, outside the repo) and checks the
last line of its output, which is what the user reads.
"""
import re
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
    # the checkout's configs (the plugin may be installed elsewhere, as on the floor stack)
    assert nearest_config('configs/rga/pspnet_rga_cityscape.py', root=str(REPO)) == (
        'configs/rga/pspnet_rga_cityscapes.py')
    assert nearest_config('my/fcn-rga_r101-d8_4xb2-80k_cityscapes.py', root=str(REPO)) == (
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


BUGGY_HEAD = '''from mmseg.models.decode_heads import FCNHead
from mmseg.registry import MODELS


@MODELS.register_module()
class BuggyHead(FCNHead):
    def __init__(self, **kwargs):
        settings = dict(scale=1)
        self.scale = settings['scale_that_is_missing']  # line 9: the bug
        super().__init__(**kwargs)
'''


@pytest.mark.slow
def test_bug_in_a_user_module_names_its_file_and_line(tmp_path, tiny_config):
    """A KeyError inside a user's own head is a bug, not a config mistake: file, line, and the
    traceback (in the work dir, or printed with --debug)."""
    (tmp_path / 'my_head.py').write_text(BUGGY_HEAD)
    config = tmp_path / 'buggy.py'
    config.write_text(f"_base_ = [{str(tiny_config)!r}]\n"
                      "custom_imports = dict(imports=['mmseg_rga', 'my_head'], "
                      "allow_failed_imports=False)\n"
                      "model = dict(decode_head=dict(type='BuggyHead'))\n")
    cmd = build_cmd(config, tmp_path)
    env = {'PYTHONPATH': str(tmp_path)}
    rc, out = run_tool(cmd, cwd=tmp_path, env=env, check=False)
    line = out.rstrip().splitlines()[-1]
    assert rc == 1 and 'Traceback' not in out, out[-3000:]
    assert line.startswith("error: KeyError: scale_that_is_missing (raised at "), line
    assert f"{tmp_path / 'my_head.py'}:9 in __init__" in line, line
    saved = Path(re.search(r'full traceback in (\S+);', line).group(1))
    assert saved.parent == tmp_path / 'wd' and 'Traceback (most recent call last)' in (
        saved.read_text())
    rc, out = run_tool(cmd + ['--debug'], cwd=tmp_path, env=env, check=False)
    assert rc == 1 and 'Traceback (most recent call last)' in out
    assert "settings['scale_that_is_missing']" in out and 'KeyError' in out.splitlines()[-1]


def test_run_main_one_line_for_expected_and_file_line_for_bugs(tmp_path):
    from mmseg_rga.checks import InputError
    from mmseg_rga.tooling.errors import ToolError, run_main, set_traceback_dir

    def fails(err):
        def main(argv):
            raise err
        return main

    set_traceback_dir(str(tmp_path))
    try:
        # sys.exit(str): Python prints the string on stderr and exits with status 1
        for err in (ToolError('no such config\n  x.py'), InputError('bad rga_cfg key')):
            with pytest.raises(SystemExit) as code:
                run_main(fails(err), [])
            assert code.value.code == f'error: {" ".join(str(err).split())}'
        with pytest.raises(SystemExit) as code:
            run_main(fails(ZeroDivisionError('boom')), [])
        line = code.value.code
        assert line.startswith('error: ZeroDivisionError: boom (raised at ') and __file__ in line
        assert '\n' not in line and len(list(tmp_path.glob('traceback_*.txt'))) == 1
        with pytest.raises(ZeroDivisionError):
            run_main(fails(ZeroDivisionError('boom')), ['--debug'])
        with pytest.raises(SystemExit) as code:
            run_main(lambda argv: None, [])
        assert code.value.code == 0
    finally:
        set_traceback_dir(None)


def test_registry_errors_are_expected_and_other_key_errors_are_bugs():
    from mmseg.registry import MODELS

    from mmseg_rga.tooling.errors import is_expected
    with pytest.raises(KeyError) as miss:
        MODELS.build(dict(type='NoSuchHead'))
    assert is_expected(miss.value)
    with pytest.raises(TypeError) as kwarg:
        MODELS.build(dict(type='RGABlock', in_channels=8, pooled_size=4, no_such_arg=1))
    assert is_expected(kwarg.value)
    with pytest.raises(KeyError) as bug:
        {}['x']
    assert not is_expected(bug.value)
    assert not is_expected(TypeError("unsupported operand type(s) for +: 'int' and 'str'"))
