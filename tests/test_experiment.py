"""mmseg_rga.tooling.experiment: what the demo and the seed study share to run the tools."""
import json
import sys

import pytest

from mmseg_rga.tooling.experiment import (
    ToolFailed,
    final_checkpoint,
    read_test_metrics,
    run_tool,
    schedule_options,
)


def test_run_tool_logs_and_raises_with_the_tail(tmp_path, capsys):
    log = tmp_path / 'out.log'
    ok = [sys.executable, '-c', 'import os; print("threads", os.environ["OMP_NUM_THREADS"])']
    assert run_tool(ok, str(log), str(tmp_path), echo=True, threads=3) >= 0
    assert log.read_text() == 'threads 3\n' and '   threads 3' in capsys.readouterr().out
    bad = [sys.executable, '-c', 'print("last words"); raise SystemExit(4)']
    with pytest.raises(ToolFailed, match=r'failed \(exit 4\)') as err:
        run_tool(bad, str(log), str(tmp_path))
    assert '\n' not in str(err.value) and str(log) in str(err.value)
    assert 'last words' in capsys.readouterr().err


def test_schedule_options():
    opts = dict(o.split('=') for o in schedule_options(20, 4, 7, log_interval=50))
    assert opts['train_cfg.max_iters'] == opts['param_scheduler.0.end'] == '20'
    assert opts['train_cfg.val_begin'] == '21' and opts['default_hooks.logger.interval'] == '20'
    assert opts['train_dataloader.batch_size'] == '4' and opts['randomness.seed'] == '7'


def test_final_checkpoint_follows_last_checkpoint(tmp_path):
    with pytest.raises(ToolFailed, match='wrote no checkpoint'):
        final_checkpoint(str(tmp_path), 5)
    (tmp_path / 'iter_5.pth').write_bytes(b'')
    assert final_checkpoint(str(tmp_path), 5) == str(tmp_path / 'iter_5.pth')
    (tmp_path / 'other.pth').write_bytes(b'')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'other.pth'))
    assert final_checkpoint(str(tmp_path), 5) == str(tmp_path / 'other.pth')


def test_test_metrics_takes_the_newest_new_json(tmp_path):
    old = tmp_path / 'run1' / 'run1.json'
    old.parent.mkdir()
    old.write_text(json.dumps({'mIoU': 1.0}) + '\n')
    with pytest.raises(ToolFailed, match='no mIoU'):
        read_test_metrics(str(tmp_path), ignore=[str(old)])
    new = tmp_path / 'run2' / 'run2.json'
    new.parent.mkdir()
    new.write_text(json.dumps({'lr': 0.1}) + '\n' + json.dumps({'mIoU': 2.0}) + '\n')
    assert read_test_metrics(str(tmp_path), ignore=[str(old)])['mIoU'] == 2.0
