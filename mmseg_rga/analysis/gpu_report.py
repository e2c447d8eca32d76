"""The run and the report of ``tools/analysis_tools/gpu_check.py``: cases in order, on a budget.

A :class:`Case` is one row of the report: a check, a name and a function that returns
``(measured, reference, ok)``. :func:`run_cases` runs the cases in the order given and times
each; once the :class:`Budget` is spent it starts no new case and reports each remaining one as
skipped, with the reason. A case that raises (an out-of-memory error, a bug) is a failed row and
the run goes on. :func:`header` names the GPU, its driver and the software, :func:`format_table`
writes the rows as a markdown table.
"""
import datetime
import shlex
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

STATUS = {True: 'ok', False: 'FAIL', None: 'skipped'}


@dataclass
class Case:
    check: str
    name: str
    run: Callable[[], Tuple[str, str, Optional[bool]]]  # -> (measured, reference, ok)
    estimate: Optional[tuple] = None  # the memory estimate it wants (gpu_check's EstimatePool)


class Budget:
    """``seconds`` of wall-clock time from construction (None: no limit), read from ``clock``."""

    def __init__(self, seconds: Optional[float] = None,
                 clock: Callable[[], float] = time.monotonic):
        if seconds is not None and not seconds > 0:
            raise ValueError(f'the budget must be a positive number of seconds; got {seconds}')
        self.seconds, self.clock, self.start = seconds, clock, clock()

    def elapsed(self) -> float:
        return self.clock() - self.start

    def left(self) -> float:
        """Seconds left (inf without a limit; <= 0 once spent)."""
        return float('inf') if self.seconds is None else self.seconds - self.elapsed()

    def spent(self) -> bool:
        return self.left() <= 0

    def limit(self, most: float) -> float:
        """A subprocess's time limit: what is left (at least a minute), at most ``most``."""
        return min(most, max(60.0, self.left()))


def row(check: str, case: str, measured: str, reference: str, ok: Optional[bool],
        seconds: Optional[float] = None) -> Dict[str, object]:
    return dict(check=check, case=case, measured=measured, reference=reference,
                status=STATUS[ok], seconds=seconds)


def run_case(case: Case, clock: Callable[[], float] = time.monotonic) -> Dict[str, object]:
    """The case's row, timed; an exception is a failed row (its traceback is printed)."""
    start = clock()
    try:
        measured, reference, ok = case.run()
    except Exception as err:  # noqa: B902  (an acceptance run reports, it does not stop)
        traceback.print_exc()
        measured, reference, ok = (f'{type(err).__name__}: {" ".join(str(err).split())[:160]}',
                                   '-', False)
    return row(case.check, case.name, measured, reference, ok, clock() - start)


def run_cases(cases: List[Case], budget: Budget,
              on_row: Optional[Callable[[dict], None]] = None) -> List[Dict[str, object]]:
    """Run ``cases`` in order until ``budget`` is spent; the rest become skipped rows."""
    rows = []
    for case in cases:
        if budget.spent():
            rows.append(row(case.check, case.name,
                            f'not run: the budget of {budget.seconds:g} s was spent', '-', None))
        else:
            rows.append(run_case(case, budget.clock))
        if on_row is not None:
            on_row(rows[-1])
    return rows


def _seconds(value) -> str:
    return '' if value is None else f'{value:.1f}'


def format_table(rows: List[Dict[str, object]]) -> str:
    """The rows as a markdown table (``seconds``: how long the case took, model build included)."""
    lines = ['| check | case | measured | reference | status | seconds |',
             '| --- | --- | --- | --- | --- | ---: |']
    lines += [f'| {r["check"]} | {r["case"]} | {r["measured"]} | {r["reference"]} | '
              f'{r["status"]} | {_seconds(r["seconds"])} |' for r in rows]
    return '\n'.join(lines)


def summary(rows: List[Dict[str, object]], budget: Budget) -> str:
    """One line: the counts per status, the cases left out by the budget and the time taken."""
    counts = {s: sum(r['status'] == s for r in rows) for s in STATUS.values()}
    over = sum(str(r['measured']).startswith('not run: the budget') for r in rows)
    limit = '' if budget.seconds is None else f' of a {budget.seconds:g} s budget'
    return (f'{counts["ok"]} ok, {counts["FAIL"]} FAIL, {counts["skipped"]} skipped '
            f'({over} for the budget); {budget.elapsed():.0f} s{limit}')


def header(command: List[str]) -> str:
    """The report's first lines: the GPU, its driver, torch, CUDA, cuDNN, Python, the date and
    ``command``."""
    import torch
    try:
        driver = subprocess.run(['nvidia-smi', '--query-gpu=driver_version',
                                 '--format=csv,noheader'], capture_output=True, text=True,
                                timeout=60).stdout.split('\n')[0].strip() or 'n/a'
    except (OSError, subprocess.SubprocessError):
        driver = 'n/a (no nvidia-smi)'
    date = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    return (f'gpu_check on {torch.cuda.get_device_name(0)} x {torch.cuda.device_count()}, '
            f'driver {driver}, torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN '
            f'{torch.backends.cudnn.version()}, Python {sys.version.split()[0]}; {date}\n\n'
            f'`{shlex.join(command)}`')
