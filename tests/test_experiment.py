"""mmseg_rga.tooling.experiment: what the demo and the seed study share to run the tools."""
import json
import sys

import pytest

from mmseg_rga.tooling.experiment import (
    ToolFailed,
    cpu_model,
    describe_machine,
    final_checkpoint,
    machine_summary,
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


def test_machine_summary_names_cpu_threads_and_versions(monkeypatch):
    import torch
    monkeypatch.setenv('OMP_NUM_THREADS', '3')
    machine = machine_summary()
    assert machine['cpu'] == cpu_model() and machine['cpu']
    assert machine['torch_threads'] == str(torch.get_num_threads())
    line = describe_machine(machine)
    for part in (machine['cpu'], f'torch threads: {torch.get_num_threads()}', 'OMP_NUM_THREADS=3',
                 f'torch {torch.__version__}', 'mmcv ', 'mmseg ', ' UTC'):
        assert part in line, (part, line)


def test_cpu_model_reads_the_first_processor_else_platform(tmp_path, monkeypatch):
    info = tmp_path / 'cpuinfo'
    cpu = 'processor\t: {}\ncpu family\t: 6\nmodel\t\t: 106\nmodel name\t: {}\n\n'
    info.write_text(cpu.format(0, 'Intel Xeon Gold 6338') + cpu.format(1, 'Other'))
    assert cpu_model(str(info)) == 'Intel Xeon Gold 6338 (family 6, model 106)'
    info.write_text('processor\t: 0\nmodel name\t: Apple M2\n')
    assert cpu_model(str(info)) == 'Apple M2'
    monkeypatch.setattr('platform.processor', lambda: 'Test CPU 9000')
    assert cpu_model(str(tmp_path / 'missing')) == 'Test CPU 9000'
