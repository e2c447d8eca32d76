"""Hostile checkpoints (``hostile_checkpoints.py``): refused in one line by
``load_checkpoint_file``, by the allowlist unpickler on its own and by every tool that loads a
checkpoint, and none of them does what it was made for (its marker stays absent)."""
import io
import json
import pickle
import warnings
import zipfile
from pathlib import Path

import hostile_checkpoints as hostile
import pytest
import tool_runner
import torch
from hostile_checkpoints import CASES, HB, call, glob, mmengine_like_checkpoint, protocol2, text

from mmseg_rga.compat import HAS_SAFE_GLOBALS
from mmseg_rga.engine import UnsafeCheckpointError, checkpoint_loading, load_checkpoint_file
from mmseg_rga.engine.allowlist_unpickler import ALLOWLIST_PICKLE

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO / 'configs' / 'demo' / 'pspnet-rga_r18-d8_synthetic.py'


@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
    """{case: (path, marker)}, every file written once for the module."""
    folder = tmp_path_factory.mktemp('hostile')
    files = {}
    for name, case in CASES.items():
        (folder / name).mkdir()
        files[name] = case.write(folder / name)
    return folder, files


@pytest.fixture
def armed(corpus):
    undo = hostile.arm(corpus[0])
    yield corpus[1]
    undo()


@pytest.mark.parametrize('name', list(CASES))
def test_load_checkpoint_file_refuses_in_one_line_and_runs_nothing(armed, name):
    path, marker = armed[name]
    with pytest.raises(UnsafeCheckpointError) as err:
        load_checkpoint_file(str(path), map_location='cpu')
    message = str(err.value)
    assert '\n' not in message and message.startswith(f'refusing to load {path}: '), message
    assert CASES[name].expect in message, message
    assert message.endswith('If you trust the file, pass --unsafe-load') or \
        name == 'torchscript', message
    assert not marker()


PICKLE_CASES = ['build-class', 'build-function', 'reduce-produced', 'rebuild-non-tensor',
                'history-buffer-state', 'ext-opcode', 'stack-global']


@pytest.mark.parametrize('name', PICKLE_CASES)
def test_allowlist_unpickler_refuses_on_its_own(armed, name):
    """The unpickler itself, as a pickle module, without the loader around it."""
    path, marker = armed[name]
    with zipfile.ZipFile(path) as archive:
        data = archive.read('archive/data.pkl')
    with pytest.raises(pickle.UnpicklingError, match=CASES[name].expect.split(';')[0]):
        ALLOWLIST_PICKLE.load(io.BytesIO(data))
    assert not marker()


def _meta_parameter_with_hook() -> bytes:
    tensor = call(glob('torch._utils _rebuild_meta_tensor_no_storage'), glob('torch float32'),
                  pickle.BININT1 + b'\x01' + pickle.TUPLE1, pickle.BININT1 + b'\x01'
                  + pickle.TUPLE1, pickle.NEWFALSE)
    hooks = call(glob('collections OrderedDict')) + pickle.BININT1 + b'\x00' + glob(HB) \
        + pickle.SETITEM
    return protocol2(call(glob('torch._utils _rebuild_parameter'), tensor, pickle.NEWFALSE,
                          hooks))


RULES = {  # pickle -> what the refusal says
    'backward hooks': (_meta_parameter_with_hook(), 'a tensor with backward hooks'),
    'codec': (protocol2(call(glob('_codecs encode'), text('abc'), text('rot13'))),
              "_codecs.encode only decodes latin1 text; got 'rot13'"),
    'dunder state': (protocol2(call(glob('collections OrderedDict'))
                               + hostile.one_item_dict('__class__', pickle.NONE) + pickle.BUILD),
                     "OrderedDict state may not set '__class__'"),
    'newobj produced': (protocol2(hostile.statistic('min') + pickle.EMPTY_TUPLE + pickle.NEWOBJ),
                        'NEWOBJ may only create an allowlisted class, not function'),
    'append': (protocol2(pickle.EMPTY_DICT + pickle.NONE + pickle.APPEND),
               'APPEND on a dict is not allowed'),
    'persistent id': (protocol2(text('module') + pickle.TUPLE1 + pickle.BINPERSID),
                      "a persistent id may only name a storage; got ('module',)"),
    'stack underflow': (protocol2(pickle.REDUCE), 'malformed pickle at opcode REDUCE'),
    'truncated': (pickle.PROTO + b'\x02' + pickle.BININT + b'\x01',
                  'malformed pickle at opcode BININT'),
}


@pytest.mark.parametrize('rule', list(RULES))
def test_allowlist_unpickler_rules(rule):
    data, expected = RULES[rule]
    with pytest.raises(pickle.UnpicklingError, match=expected.replace('(', r'\(').replace(
            ')', r'\)')):
        ALLOWLIST_PICKLE.load(io.BytesIO(data))


@pytest.mark.skipif(not HAS_SAFE_GLOBALS, reason='torch < 2.4: import mmseg_rga registers '
                    'nothing with torch (mmseg\'s own tools unpickle fully there)')
@pytest.mark.parametrize('name', ['history-buffer-state', 'rebuild-non-tensor'])
def test_torch_weights_only_loads_check_the_history_buffer_state_too(armed, name):
    """The HistoryBuffer that ``import mmseg_rga`` registers with torch checks its state, so
    torch's own weights-only loads (mmseg's tools on torch >= 2.6) refuse these files too."""
    path, marker = armed[name]
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer state may only name its own'):
        torch.load(path, weights_only=True)
    assert not marker()


def test_a_zip_with_duplicate_records_is_refused(tmp_path):
    """torch's reader takes the first of two ``byteorder`` records ('big': every weight read
    byte-swapped), Python's zipfile the last ('little')."""
    path = tmp_path / 'two_byteorders.pth'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # zipfile warns about the duplicate name
        with zipfile.ZipFile(path, 'w') as archive:
            for name, data in (('data.pkl', pickle.dumps({}, protocol=2)), ('version', '3\n'),
                               ('byteorder', 'big'), ('byteorder', 'little')):
                archive.writestr(f'archive/{name}', data)
    with pytest.raises(UnsafeCheckpointError, match='its zip has duplicate or hidden records'):
        load_checkpoint_file(str(path))


def test_honest_pickle_loads_through_the_unpickler_alone():
    state = mmengine_like_checkpoint(2)
    state.pop('state_dict')  # tensors need torch's persistent_load
    loaded = ALLOWLIST_PICKLE.load(io.BytesIO(pickle.dumps(state, protocol=2)))
    assert loaded['meta'] == state['meta']
    assert loaded['message_hub']['log_scalars']['train/loss'].current() == 1.0
    assert loaded['message_hub']['runtime_info']['arr'].tolist() == [0, 1, 2]


def test_legacy_pickle_format_loads_through_the_allowlist(tmp_path):
    """torch's pre-1.6 stream (not a zip) is read like a zip's pickle; its tensors load."""
    path = tmp_path / 'legacy.pth'
    torch.save(mmengine_like_checkpoint(4), path, _use_new_zipfile_serialization=False)
    loaded = load_checkpoint_file(str(path), map_location='cpu')
    assert loaded['state_dict']['w'].tolist() == [[4.0, 4.0], [4.0, 4.0]]
    assert loaded['message_hub']['log_scalars']['train/loss'].current() == 2.0


def test_unsafe_load_reads_a_trusted_torchscript_archive_as_its_weights(tmp_path):
    path, marker = CASES['torchscript'].write(tmp_path)
    with checkpoint_loading(unsafe=True):  # the user's explicit choice: its code runs
        loaded = load_checkpoint_file(str(path), map_location='cpu')
    assert list(loaded) == ['state_dict'] and loaded['state_dict']['weight'].tolist() == [1, 1]
    assert marker()


def run_python(args, cwd, timeout=600):
    proc = tool_runner.run_python(args, cwd=cwd, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.floor
def test_test_tool_refuses_a_torchscript_archive_before_its_code_runs(tmp_path):
    """``tools/test.py CONFIG evil.pth --synthetic-data DIR``, a user's first check of a
    downloaded checkpoint: one line, exit 1, the file the archive targets untouched."""
    path, marker = CASES['torchscript'].write(tmp_path)
    rc, out = run_python([REPO / 'tools' / 'test.py', DEMO_CONFIG, path, '--synthetic-data',
                          tmp_path / 'data', '--synthetic-size', 64, 128, '--work-dir',
                          tmp_path / 'wd'], cwd=tmp_path)
    assert rc == 1 and not marker(), out[-3000:]
    assert out.rstrip().splitlines()[-1] == (
        f'error: refusing to load {path}: it is a TorchScript archive (torch.jit.save), not an '
        'mmengine checkpoint, and reading it runs the code it holds. If you trust the file, '
        'pass --unsafe-load (its weights load as the state_dict) or torch.jit.load it yourself')
    assert 'Traceback' not in out


@pytest.mark.slow
@pytest.mark.floor
def test_every_loader_refuses_every_hostile_file_in_one_line(tmp_path):
    """tools/test.py on the whole corpus; the other loaders on the TorchScript archive (one
    process: ``refusal_probe.py``)."""
    rc, out = run_python([REPO / 'tests' / 'refusal_probe.py', tmp_path / 'report.json',
                          tmp_path / 'probe'], cwd=tmp_path)
    assert rc == 0, out[-4000:]
    report = json.loads((tmp_path / 'report.json').read_text())
    expected = {f'test.py {name}': case.expect for name, case in CASES.items()}
    expected.update({label: CASES['torchscript'].expect for label in (
        'train --resume', 'train load_from', 'visualize_attention', 'pytorch2onnx', 'demo',
        'inference.load_model')})
    assert sorted(report) == sorted(expected)
    for label, result in report.items():
        assert result['error'].startswith('error: ') and '\n' not in result['error'], (label,
                                                                                      result)
        assert expected[label] in result['error'], (label, result)
        assert not result['marker'], label
    assert report['train --resume']['error'].startswith('error: cannot resume: no checkpoint')
