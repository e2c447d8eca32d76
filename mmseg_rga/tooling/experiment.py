"""Train and test through the tools as subprocesses: what ``tools/demo.py`` and
``tools/analysis_tools/seed_study.py`` share.

Both run ``tools/train.py`` then ``tools/test.py`` on a demo config over a generated dataset, with
a short schedule given through ``--cfg-options``; the tools' logs go to files and, optionally, to
stdout as they come. ``machine_summary`` names the machine whose numbers a results file holds.
"""
import datetime
import glob
import importlib
import json
import os
import os.path as osp
import platform
import shlex
import subprocess
import sys
import time
from typing import Dict, Iterable, List, Optional, Tuple

from .errors import ToolError


class ToolFailed(ToolError):
    """A tool run by another exited non-zero, or left no result (its log is named)."""


def run_tool(cmd: List[str], log_path: str, cwd: str, echo: bool = False,
             threads: int = 0) -> float:
    """Run ``cmd`` in ``cwd`` with its output in ``log_path`` (and on stdout if ``echo``).

    Args:
        threads: OMP/MKL threads of the tool (0: inherit).

    Returns:
        float: the wall time in seconds.

    Raises:
        ToolFailed: the tool exited non-zero (the end of its log is written to stderr).
    """
    print('$ ' + ' '.join(shlex.quote(c) for c in cmd), flush=True)
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    start = time.perf_counter()
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        for line in proc.stdout:  # mmengine's progress and logs, as the tools print them
            log.write(line)
            if echo:
                sys.stdout.write('   ' + line)
        proc.wait()
    if proc.returncode != 0:
        with open(log_path) as f:
            tail = ''.join(f.readlines()[-40:])
        sys.stderr.write(tail)
        raise ToolFailed(f'{cmd[1]} failed (exit {proc.returncode}); its last lines are above, '
                         f'the whole log is {log_path}')
    return time.perf_counter() - start


def data_root_options(data_root: str) -> List[str]:
    """``--cfg-options`` pointing every dataloader of a config at ``data_root``."""
    return [f'{loader}.dataset.data_root={osp.abspath(data_root)}'
            for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]


def schedule_options(iters: int, batch_size: int, seed: int, log_interval: int) -> List[str]:
    """``--cfg-options`` for ``iters`` iterations of ``batch_size``, one checkpoint at the end,
    no validation inside training (``tools/test.py`` evaluates) and ``randomness.seed``."""
    return [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'train_cfg.val_begin={iters + 1}', f'param_scheduler.0.end={iters}',
            f'default_hooks.checkpoint.interval={iters}',
            f'default_hooks.logger.interval={max(1, min(log_interval, iters))}',
            f'train_dataloader.batch_size={batch_size}', f'randomness.seed={seed}']


def final_checkpoint(work_dir: str, iters: int) -> str:
    """The checkpoint ``tools/train.py`` wrote last in ``work_dir`` (ToolFailed if none)."""
    checkpoint = osp.join(work_dir, f'iter_{iters}.pth')
    last = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(last):
        with open(last) as f:
            checkpoint = f.read().strip() or checkpoint
    if not osp.isfile(checkpoint):
        raise ToolFailed(f'tools/train.py finished but wrote no checkpoint {checkpoint}')
    return checkpoint


def newest_test_metrics(test_dir: str,
                        ignore: Iterable[str] = ()) -> Optional[Tuple[Dict[str, float], str]]:
    """``(metrics, path)`` of the newest ``<timestamp>/<timestamp>.json`` holding an mIoU that
    ``tools/test.py --work-dir test_dir`` wrote (mmengine's ``LoggerHook``), except the files in
    ``ignore`` (those there before a run); None if there is none."""
    found = sorted(set(glob.glob(osp.join(test_dir, '*', '*.json'))) - set(ignore),
                   key=osp.getmtime, reverse=True)
    for path in found:
        with open(path) as f:
            lines = [json.loads(ln) for ln in f if ln.strip()]
        metrics = [ln for ln in lines if isinstance(ln, dict) and 'mIoU' in ln]
        if metrics:
            return metrics[-1], path
    return None


def read_test_metrics(test_dir: str, ignore: Iterable[str] = ()) -> Dict[str, float]:
    """The newest metrics json (with mIoU) ``tools/test.py --work-dir test_dir`` wrote, except
    the files in ``ignore`` (those there before the run)."""
    found = newest_test_metrics(test_dir, ignore)
    if found is None:
        raise ToolFailed(f'tools/test.py wrote no mIoU json under {test_dir}')
    return found[0]


def cpu_model(cpuinfo: str = '/proc/cpuinfo') -> str:
    """The CPU's name: /proc/cpuinfo's "model name" with its family and model numbers (Linux;
    virtual machines often show only "AMD EPYC"), else ``platform.processor()``."""
    fields = {}
    try:
        with open(cpuinfo) as f:
            for line in f:
                if not line.strip():
                    break  # the first processor is enough
                key, _, value = line.partition(':')
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    name, family, model = (fields.get(k) for k in ('model name', 'cpu family', 'model'))
    if name:
        return f'{name} (family {family}, model {model})' if family and model else name
    return platform.processor() or platform.machine() or 'unknown CPU'


def machine_summary() -> Dict[str, str]:
    """What a training run's numbers depend on besides code, data and seed.

    Float reductions are summed in an order set by the CPU's kernels and by torch's thread
    count, so another CPU or thread count gives another run; the same ones give the same run.
    """
    import torch
    versions = {name: getattr(importlib.import_module(name), '__version__', '?')
                for name in ('torch', 'mmcv', 'mmengine', 'mmseg')}
    return dict(cpu=cpu_model(), logical_cpus=str(os.cpu_count()),
                torch_threads=str(torch.get_num_threads()),
                omp_num_threads=os.environ.get('OMP_NUM_THREADS', ''),
                versions=', '.join(f'{k} {v}' for k, v in versions.items()),
                python=platform.python_version(),
                date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))


def describe_machine(machine: Dict[str, str]) -> str:
    """One line for a results file: CPU, threads, versions, date."""
    omp = f', OMP_NUM_THREADS={machine["omp_num_threads"]}' if machine['omp_num_threads'] else ''
    return (f'{machine["cpu"]} ({machine["logical_cpus"]} logical CPUs), '
            f'torch threads: {machine["torch_threads"]}{omp}; {machine["versions"]}, '
            f'Python {machine["python"]}; {machine["date"]}')
