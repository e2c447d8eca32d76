"""Checkpoints you can trust: atomic writes, resume from the newest intact file, safe loading.

Fast unit tests on hand-made mmengine-style checkpoints (a ``message_hub`` with HistoryBuffers
and numpy values, as the Runner writes them). The end-to-end kill tests are in
``test_fault_injection.py``; hostile files against every loader in
``test_hostile_checkpoints.py``.
"""
import contextlib
import logging
import os
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hostile_checkpoints import SYSTEM, Evil, mmengine_like_checkpoint
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader, load_from_local

from mmseg_rga.compat import HAS_SAFE_GLOBALS
from mmseg_rga.engine import (
    AtomicCheckpointHook,
    AtomicLocalBackend,
    NoIntactCheckpointError,
    UnsafeCheckpointError,
    checkpoint_loading,
    find_intact_checkpoint,
    load_checkpoint_file,
    safe_load,
)
from mmseg_rga.engine.atomic_io import remove_stale_temporaries
from mmseg_rga.tooling import use_atomic_checkpoint_hook

DATA = Path(__file__).resolve().parent / 'data'
NEEDS_SAFE_GLOBALS = pytest.mark.skipif(
    not HAS_SAFE_GLOBALS, reason='torch < 2.4 has no add_safe_globals: import mmseg_rga cannot '
    'extend the weights-only loads of mmseg\'s own tools (load_checkpoint_file still loads '
    'safely, through its allowlist unpickler)')


def write_checkpoints(work_dir: Path, steps, last=None) -> None:
    work_dir.mkdir(parents=True, exist_ok=True)
    for step in steps:
        torch.save(mmengine_like_checkpoint(step), work_dir / f'iter_{step}.pth')
    last = steps[-1] if last is None else last
    (work_dir / 'last_checkpoint').write_text(str(work_dir / f'iter_{last}.pth'))


def truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


# ------------------------------------------------------------------------------ atomic writes
class FailingBackend(AtomicLocalBackend):
    def before_replace(self, tmp_path, path):
        assert Path(tmp_path).read_bytes() == b'new'  # complete before the rename
        raise KeyboardInterrupt('killed during the save')


def test_atomic_put_leaves_old_or_new_file(tmp_path):
    target = tmp_path / 'sub' / 'iter_2.pth'
    AtomicLocalBackend().put(b'old', target)
    assert target.read_bytes() == b'old'
    with pytest.raises(KeyboardInterrupt):
        FailingBackend().put(b'new', target)
    assert target.read_bytes() == b'old'  # an in-place write would have truncated it
    assert sorted(p.name for p in target.parent.iterdir()) == ['iter_2.pth']
    AtomicLocalBackend().put_text('iter_4', tmp_path / 'last_checkpoint')
    assert (tmp_path / 'last_checkpoint').read_text() == 'iter_4'


def test_remove_stale_temporaries_only_removes_writer_leftovers(tmp_path):
    stale = tmp_path / '.iter_4.pth.1234.0a1b2c3d.tmp'
    keep = [tmp_path / 'iter_4.pth', tmp_path / 'notes.tmp', tmp_path / '.hidden']
    for p in [stale, *keep]:
        p.write_bytes(b'x')
    assert remove_stale_temporaries(str(tmp_path)) == [str(stale)]
    assert all(p.exists() for p in keep)


# ---------------------------------------------------------------------- resume: newest intact
@pytest.fixture
def log():
    logger = logging.getLogger('test_checkpoint_safety')
    logger.propagate = True
    return logger


def test_resume_falls_back_from_truncated_newest(tmp_path, log, caplog):
    write_checkpoints(tmp_path, [2, 4, 6])
    truncate(tmp_path / 'iter_6.pth')
    with caplog.at_level(logging.WARNING):
        found = find_intact_checkpoint(str(tmp_path), logger=log)
    assert found == str(tmp_path / 'iter_4.pth')
    warning = next(r.getMessage() for r in caplog.records if 'skipping' in r.getMessage())
    assert str(tmp_path / 'iter_6.pth') in warning and 'central directory' in warning


def test_resume_survives_max_keep_ckpts_and_stale_pointer(tmp_path, log, caplog):
    # last_checkpoint names a file max_keep_ckpts deleted; a newer file exists that it misses
    write_checkpoints(tmp_path, [4, 8], last=6)
    truncate(tmp_path / 'iter_8.pth')
    with caplog.at_level(logging.WARNING):
        found = find_intact_checkpoint(str(tmp_path), logger=log)
    assert found == str(tmp_path / 'iter_4.pth')
    text = '\n'.join(r.getMessage() for r in caplog.records)
    assert f'{tmp_path / "iter_6.pth"}: missing' in text and 'iter_8.pth' in text
    write_checkpoints(tmp_path, [10], last=6)  # newer than the pointer and intact: taken
    assert find_intact_checkpoint(str(tmp_path), logger=log) == str(tmp_path / 'iter_10.pth')


def test_resume_error_lists_every_file_tried(tmp_path, log):
    assert find_intact_checkpoint(str(tmp_path), logger=log) is None  # nothing: fresh start
    write_checkpoints(tmp_path, [2, 4])
    for step in (2, 4):
        truncate(tmp_path / f'iter_{step}.pth')
    with pytest.raises(NoIntactCheckpointError) as err:
        find_intact_checkpoint(str(tmp_path), logger=log)
    msg = str(err.value)
    assert '\n' not in msg and 'iter_4.pth (RuntimeError' in msg and 'iter_2.pth (' in msg
    assert msg.index('iter_4.pth') < msg.index('iter_2.pth')  # newest first


def test_hook_sets_resume_path_only_when_resuming_without_one(tmp_path, log):
    write_checkpoints(tmp_path, [2, 4])
    truncate(tmp_path / 'iter_4.pth')
    hook = AtomicCheckpointHook(interval=2, by_epoch=False)
    assert hook.backend_args == dict(backend='atomic_local')
    runner = SimpleNamespace(_resume=True, _load_from=None, work_dir=str(tmp_path), logger=log)
    hook.before_run(runner)
    assert runner._load_from == str(tmp_path / 'iter_2.pth')
    for resume, load_from in ((False, None), (True, 'given.pth')):
        runner = SimpleNamespace(_resume=resume, _load_from=load_from, work_dir=str(tmp_path),
                                 logger=log)
        hook.before_run(runner)
        assert runner._load_from == load_from
    assert AtomicCheckpointHook(out_dir='s3://bucket/x').backend_args is None  # remote: as is


def test_tools_swap_in_the_atomic_hook_but_keep_a_users_hook():
    cfg = Config(dict(default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=5))))
    assert use_atomic_checkpoint_hook(cfg)
    assert cfg.default_hooks.checkpoint == dict(type='AtomicCheckpointHook', interval=5)
    cfg = Config(dict(default_hooks=dict(checkpoint=dict(type='MyCheckpointHook'))))
    assert not use_atomic_checkpoint_hook(cfg)
    assert cfg.default_hooks.checkpoint.type == 'MyCheckpointHook'


# ---------------------------------------------------------------------------- safe loading
@contextlib.contextmanager
def torch_default_allowlist():
    """torch's own weights-only allowlist, as in a process that never imported mmseg_rga."""
    registered = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        yield
    finally:
        torch.serialization.add_safe_globals(registered)


def test_honest_checkpoint_loads_weights_only(tmp_path):
    path = tmp_path / 'iter_2.pth'
    torch.save(mmengine_like_checkpoint(2), path)
    loaded = load_checkpoint_file(str(path))
    assert loaded['meta']['iter'] == 2 and loaded['meta']['seed'] == 0
    assert loaded['message_hub']['log_scalars']['train/loss'].current() == 1.0
    assert loaded['message_hub']['runtime_info']['arr'].tolist() == [0, 1, 2]
    with open(path, 'rb') as f:
        assert safe_load._unsafe_globals(f) == []


@pytest.mark.parametrize('numpy_major', [1, 2])
def test_checkpoints_of_numpy_1_and_2_load(numpy_major):
    """Files written by tests/data/write_numpy_checkpoint.py under numpy 1.26 (the floor
    stack) and numpy 2 (the main stack) load on either."""
    path = DATA / f'mmengine_like_numpy{numpy_major}.pth'
    loaded = load_checkpoint_file(str(path))
    assert loaded['meta']['numpy'].startswith(f'{numpy_major}.')
    assert loaded['message_hub']['log_scalars']['train/loss'].current() == 1.0
    assert loaded['message_hub']['runtime_info']['arr'].dtype == np.int64
    assert loaded['message_hub']['runtime_info']['arr'].tolist() == [0, 1, 2]
    assert loaded['state_dict']['w'].tolist() == [[2.0, 2.0], [2.0, 2.0]]


@NEEDS_SAFE_GLOBALS
def test_import_registers_the_allowlist_for_torch_load(tmp_path):
    path = tmp_path / 'iter_2.pth'
    torch.save(mmengine_like_checkpoint(2), path)
    with torch_default_allowlist():
        with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
            torch.load(path, weights_only=True)  # torch's default refuses mmengine checkpoints
        assert load_checkpoint_file(str(path))['meta']['iter'] == 2  # its own allowlist
    # ``import mmseg_rga`` registered SAFE_GLOBALS: torch.load itself (what mmseg's own tools
    # and init_model call) loads the file weights-only
    loaded = torch.load(path, weights_only=True)
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert type(buffer) is HistoryBuffer and buffer.current() == 1.0  # checked, then plain
    assert torch.serialization.get_unsafe_globals_in_checkpoint(str(path)) == []


def test_crafted_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save(dict(mmengine_like_checkpoint(2), extra=Evil(marker)), path)
    with pytest.raises(UnsafeCheckpointError, match=rf'evil\.pth: it needs {SYSTEM}, which'):
        load_checkpoint_file(str(path))
    assert not marker.exists()
    with checkpoint_loading(unsafe=True):  # the user's explicit choice: it really runs
        load_checkpoint_file(str(path))
    assert marker.exists()


@NEEDS_SAFE_GLOBALS
def test_a_user_who_forces_torchs_weights_only_loads_gets_them(tmp_path, monkeypatch):
    """TORCH_FORCE_WEIGHTS_ONLY_LOAD=1 makes torch refuse any pickle_module: the tools then
    load by torch's weights-only rules (the format check first, as always)."""
    monkeypatch.setenv('TORCH_FORCE_WEIGHTS_ONLY_LOAD', '1')
    path, evil = tmp_path / 'iter_2.pth', tmp_path / 'evil.pth'
    torch.save(mmengine_like_checkpoint(2), path)
    torch.save(dict(mmengine_like_checkpoint(2), extra=Evil(tmp_path / 'pwned')), evil)
    assert load_checkpoint_file(str(path))['meta']['iter'] == 2
    with pytest.raises(UnsafeCheckpointError, match=rf'evil\.pth: it needs {SYSTEM}, which'):
        load_checkpoint_file(str(evil))
    assert not (tmp_path / 'pwned').exists()


@NEEDS_SAFE_GLOBALS
def test_torch_load_refuses_crafted_checkpoint(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save(dict(mmengine_like_checkpoint(2), extra=Evil(marker)), path)
    with pytest.raises(pickle.UnpicklingError, match=f'GLOBAL {SYSTEM} '):
        torch.load(path, weights_only=True)  # as mmseg's own tools load, the plugin imported
    assert not marker.exists()


class SneakyGetattr:
    """getattr on an allowlisted class: fine for HistoryBuffer.min, not for anything else."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, 'register_statistics')


def test_getattr_is_narrowed_to_history_buffer_statistics(tmp_path):
    path = tmp_path / 'sneaky.pth'
    torch.save({'x': SneakyGetattr()}, path)
    with pytest.raises(UnsafeCheckpointError, match='register_statistics'):
        load_checkpoint_file(str(path))


@NEEDS_SAFE_GLOBALS
def test_torch_load_gets_the_narrowed_getattr(tmp_path):
    path = tmp_path / 'sneaky.pth'
    torch.save({'x': SneakyGetattr()}, path)
    # registered with torch, 'builtins.getattr' is the stand-in: torch.load refuses it as well
    with pytest.raises(pickle.UnpicklingError, match='register_statistics.*is not allowed'):
        torch.load(path, weights_only=True)


def test_checkpoint_loading_routes_mmengine_and_restores_it(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'x': Evil(tmp_path / 'pwned')}, path)
    with checkpoint_loading():
        with pytest.raises(UnsafeCheckpointError):
            CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert CheckpointLoader._get_checkpoint_loader(str(path)) is load_from_local
    assert not (tmp_path / 'pwned').exists()
