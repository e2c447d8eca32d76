"""GPU acceptance run: what a CPU cannot show, checked and timed on a CUDA host, in one table.

The cases run most informative first; with ``--budget SECONDS`` none starts once the budget is
spent, and the report lists each one left out (a case already running finishes, so the run
ends up to one case's time after the budget; each row gives the seconds its case took).

1. numerics: the relation path, the pooling and the RGA-SC block on CUDA (fp32, TF32 off)
   against the CPU in fp64, outputs and gradients (mmseg_rga/analysis/device_checks.py);
2. the PSPNet pair of Table 6 (RGA-SC and its baseline, mmseg's config) at 769x769, batch 2:
   training iterations in fp32, then AMP, through mmengine's ``train_step`` and the config's
   optimizer (finite losses; seconds per iteration), then ``test_step`` on one 1024x2048 image,
   whole and slide (seconds per image); every time beside ``torch.cuda.max_memory_allocated``
   and estimate_memory.py's estimate (``--no-estimate``: left out;
   mmseg_rga/analysis/device_timing.py);
3. slide: ``BatchedSlideEncoderDecoder`` against mmseg's slide inference, same weights, one
   1024x2048 image, the R-101 pspnet-rga config (equal logits);
4. the FCN and DeepLabV3 pairs of Table 6, as 2;
5. train: the other RGA configs (the C5 placement, the paper-protocol family), as 2 without
   inference;
6. ddp: with >= 2 GPUs, a 2-process torchrun step of pspnet-rga with SyncBN (the running
   statistics and the parameters agree across the ranks);
7. benchmarks: benchmark_heads.py --device cuda as a subprocess (its table follows the main
   one); benchmark_relation.py has no device flag (CPU only) and is listed as not run.

SyncBN is turned into BN for the single-process cases. On a host without CUDA it prints one
line and exits 0. Exit 1 when a check fails. ::

    python tools/analysis_tools/gpu_check.py --budget 360 --out gpu_check.md
    python tools/analysis_tools/gpu_check.py --only numerics slide
"""
import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

import torch  # noqa: E402

from mmseg_rga.analysis.estimate_pool import EstimatePool  # noqa: E402
from mmseg_rga.analysis.gpu_report import (  # noqa: E402
    Budget,
    Case,
    format_table,
    header,
    run_cases,
    summary,
)
from mmseg_rga.compat import FAKE_TENSOR_NEEDS, FAKE_TENSOR_TRACING  # noqa: E402
from mmseg_rga.tooling.errors import ToolError, add_debug_argument, run_main  # noqa: E402

CHECKS = ('numerics', 'train', 'infer', 'slide', 'ddp', 'benchmarks')
SUFFIX = '_r101-d8_4xb2-{}_cityscapes-769x769.py'
#: Table 6's pairs (RGA-SC, mmseg's baseline), the mmseg-recipe family; PSPNet first
TABLE6 = [tuple(f'configs/rga/{m}{s}' + SUFFIX.format('40k') for s in ('-rga', ''))
          for m in ('pspnet', 'fcn', 'deeplabv3')]
#: every config of a Table-6 RGA row: the mmseg-recipe family (40k; the C5 placement at 80k)
#: and the paper-protocol family (both placements)
RGA_CONFIGS = [f'configs/rga/{m}-rga' + SUFFIX.format('40k') for m in ('fcn', 'pspnet',
                                                                      'deeplabv3')]
RGA_CONFIGS += ['configs/rga/fcn-rganeck' + SUFFIX.format('80k')]
RGA_CONFIGS += [f'configs/rga/paper_protocol/{m}-{p}' + SUFFIX.format('40k')
                for m in ('ocnet-baseline', 'pspnet', 'deeplabv3') for p in ('rga', 'rganeck')]
SLIDE_CONFIG = TABLE6[0][0]
CROP, BATCH, IMAGE = (769, 769), 2, (1024, 2048)
NUMERICS_LIMIT = 1e-4  # max relative error, fp32 (TF32 off) against fp64
SLIDE_LIMIT = 1e-4
GIB = 2 ** 30
#: why the estimate column is empty on a torch older than the estimator needs
ESTIMATE_NA = '' if FAKE_TENSOR_TRACING else ' ({} needs torch >= {})'.format(*FAKE_TENSOR_NEEDS)


def _estimate(args, budget, key):
    """The estimate of ``key`` from the pool, or why there is none (a failed estimate does not
    fail the row: the row checks the GPU)."""
    import multiprocessing
    if args.no_estimate:
        return None, 'estimate left out (--no-estimate)'
    if not FAKE_TENSOR_TRACING:
        return None, f'estimate n/a{ESTIMATE_NA}'
    try:
        left = budget.left()
        return args.estimates.get(key, None if left == math.inf else max(10.0, left)), ''
    except multiprocessing.TimeoutError:
        return None, 'estimate not ready within the budget'
    except Exception as err:  # noqa: B902  (e.g. --amp on a torch without CPU fp16 autocast)
        return None, f'estimate failed: {type(err).__name__}: {" ".join(str(err).split())[:160]}'


def _case_name(config: str, detail: str) -> str:
    return f'{Path(config).stem}{" (paper)" if "paper_protocol" in config else ""}, {detail}'


def _memory(peak, estimate, why: str = ''):
    """(measured memory, reference) texts: the peak beside the estimate and their ratio."""
    measured = f'max_memory_allocated {peak / GIB:.2f} GiB'
    if estimate is None:
        return measured, why
    return measured, f'estimate {estimate / GIB:.2f} GiB (measured / estimate ' \
                     f'{peak / estimate:.2f})'


def train_case(args, budget, config: str, amp: bool) -> Case:
    key = (str(ROOT / config), 'train', amp, BATCH, CROP)

    def run():
        from mmseg_rga.analysis.device_timing import train_iteration
        torch.backends.cuda.matmul.allow_tf32 = False  # torch's default (cuDNN's TF32 stays on)
        torch.backends.cudnn.allow_tf32 = True
        res = train_iteration(ROOT / config, 'cuda', amp=amp, batch=BATCH, size=CROP)
        torch.cuda.empty_cache()
        memory, reference = _memory(res['peak_bytes'], *_estimate(args, budget, key))
        losses = ', '.join(f'{v:.3f}' for v in res['losses'])
        return (f'loss {losses}; {res["seconds_per_iter"]:.3f} s/iter; {memory}', reference,
                res['finite'])
    return Case('train', _case_name(config, 'AMP' if amp else 'fp32'), run, estimate=key)


def infer_case(args, budget, config: str, mode: str) -> Case:
    key = (str(ROOT / config), mode, False, 1, IMAGE)

    def run():
        from mmseg_rga.analysis.device_timing import inference_time
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = True
        res = inference_time(ROOT / config, 'cuda', mode=mode, size=IMAGE)
        torch.cuda.empty_cache()
        memory, reference = _memory(res['peak_bytes'], *_estimate(args, budget, key))
        return f'{res["seconds_per_image"]:.3f} s/image; {memory}', reference, True
    return Case('infer', _case_name(config, f'{mode}, {IMAGE[0]}x{IMAGE[1]}, fp32'), run,
                estimate=key)


def numerics_cases(args):
    from mmseg_rga.analysis.device_checks import compare_with_fp64, numerics_cases

    cases = []
    for name, (fn, module, inputs) in numerics_cases().items():
        def run(fn=fn, module=module, inputs=inputs):
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
            err = compare_with_fp64(fn, module, inputs, 'cuda')
            return (f'output {err["output"]:.1e}, grad {err["grad"]:.1e}',
                    f'< {NUMERICS_LIMIT:.0e}', max(err.values()) < NUMERICS_LIMIT)
        cases.append(Case('numerics', name, run))
    return cases


def slide_case(args) -> Case:
    def run():
        from mmseg_rga.analysis.device_checks import slide_difference
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        res = slide_difference(ROOT / SLIDE_CONFIG, 'cuda')
        return (f'logits {res["logits"]:.1e}, argmax differs on '
                f'{100 * res["argmax_differ"]:.4f}% of pixels', f'< {SLIDE_LIMIT:.0e}',
                res['logits'] < SLIDE_LIMIT)
    return Case('slide', f'{Path(SLIDE_CONFIG).stem}, 1024x2048, 769 crops, stride 513', run)


def ddp_case(args, budget) -> Case:
    import json

    def run():
        if torch.cuda.device_count() < 2:
            return f'{torch.cuda.device_count()} GPU on this host', '>= 2 GPUs', None
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / 'ddp.json'
            cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
                   f'--master_port={29500 + os.getpid() % 1000}', __file__, '--ddp-worker',
                   str(out)]
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=budget.limit(900))
            if proc.returncode != 0:
                raise RuntimeError(f'torchrun exited {proc.returncode}: '
                                   f'{proc.stderr.strip().splitlines()[-1:]}')
            res = json.loads(out.read_text())
        ok = (res['syncbn_layers'] > 0 and all(math.isfinite(v) for v in res['losses'])
              and res['stats_spread'] < 1e-5 and res['params_spread'] < 1e-6)
        return (f'{res["syncbn_layers"]} SyncBN layers; losses '
                f'{", ".join(f"{v:.3f}" for v in res["losses"])}; spread across ranks: '
                f'BN stats {res["stats_spread"]:.1e}, params {res["params_spread"]:.1e}',
                'stats < 1e-5, params < 1e-6', ok)
    return Case('ddp', f'2-process torchrun, SyncBN, {Path(SLIDE_CONFIG).stem}, 769x769, '
                       'batch 2/GPU', run)


def ddp_worker(out: str) -> None:
    """One torchrun process of the ddp case; rank 0 writes the result to ``out``."""
    import json

    from mmseg_rga.analysis.device_checks import syncbn_step
    result = syncbn_step(ROOT / SLIDE_CONFIG)
    if int(os.environ.get('RANK', 0)) == 0:
        Path(out).write_text(json.dumps(result))


def benchmark_cases(args, budget, appendix):
    def heads():
        script = ROOT / 'tools' / 'analysis_tools' / 'benchmark_heads.py'
        cmd = [sys.executable, str(script), '--device', 'cuda', '--reps', '10']
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=budget.limit(1800))
        appendix.append(f'$ python tools/analysis_tools/benchmark_heads.py --device cuda '
                        f'--reps 10\n{proc.stdout}')
        return f'exit {proc.returncode}', '-', proc.returncode == 0 and 'n/a (' not in proc.stdout

    def relation():
        return 'not run: it has no --device flag (CPU only)', '-', None
    return [Case('benchmarks', 'benchmark_heads.py --device cuda (table below)', heads),
            Case('benchmarks', 'benchmark_relation.py', relation)]


def plan(args, budget, appendix):
    """Every case of ``args.only``, most informative first (see the module docstring)."""
    def pair(rga, baseline):
        cases = [train_case(args, budget, c, amp) for amp in (False, True)
                 for c in (rga, baseline)]
        return cases + [infer_case(args, budget, c, m) for m in ('whole', 'slide')
                        for c in (rga, baseline)]
    table6_rga = {rga for rga, _ in TABLE6}
    cases = numerics_cases(args) if 'numerics' in args.only else []
    cases += pair(*TABLE6[0]) + [slide_case(args)]
    for rga, baseline in TABLE6[1:]:
        cases += pair(rga, baseline)
    cases += [train_case(args, budget, c, amp) for c in RGA_CONFIGS if c not in table6_rga
              for amp in (False, True)]
    cases += [ddp_case(args, budget)] + benchmark_cases(args, budget, appendix)
    return [c for c in cases if c.check in args.only]


def main(argv=None, clock=time.monotonic):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--only', nargs='+', choices=CHECKS, default=list(CHECKS),
                        help='run these checks only (default: all)')
    parser.add_argument('--budget', type=float, metavar='SECONDS',
                        help='start no case once this many seconds have passed; the report '
                             'lists the cases left out (default: no limit)')
    parser.add_argument('--no-estimate', action='store_true',
                        help="leave out estimate_memory.py's estimate")
    parser.add_argument('--estimate-workers', type=int, metavar='N',
                        default=max(1, min(8, (os.cpu_count() or 2) // 2)),
                        help='processes that compute the estimates while the GPU works '
                             '(default: half the CPUs, at most 8)')
    parser.add_argument('--out', help='also write the report (markdown) to this file, '
                                      'rewritten after every case')
    parser.add_argument('--ddp-worker', metavar='OUT', help=argparse.SUPPRESS)
    add_debug_argument(parser)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.ddp_worker:
        return ddp_worker(args.ddp_worker)
    if args.budget is not None and not args.budget > 0:
        raise ToolError(f'--budget must be a positive number of seconds; got {args.budget:g}')
    if args.estimate_workers < 1:
        raise ToolError(f'--estimate-workers must be >= 1; got {args.estimate_workers}')
    if not torch.cuda.is_available():
        print('gpu_check: no CUDA device on this host (torch.cuda.is_available() is False); '
              'nothing was checked.')
        return 0
    budget, appendix = Budget(args.budget, clock), []
    top = header(['python', 'tools/analysis_tools/gpu_check.py', *argv])
    print(top, flush=True)

    def report(rows):
        return '\n\n'.join([top, format_table(rows), summary(rows, budget)] + appendix)

    done = []

    def on_row(row):
        done.append(row)
        print(f'| {row["check"]} | {row["case"]} | {row["measured"]} | {row["status"]} |',
              flush=True)
        if args.out:
            Path(args.out).write_text(report(done) + '\n')
    cases = plan(args, budget, appendix)
    keys = [c.estimate for c in cases if c.estimate] if FAKE_TENSOR_TRACING else []
    args.estimates = EstimatePool([] if args.no_estimate else keys, args.estimate_workers)
    try:
        rows = run_cases(cases, budget, on_row)
    finally:
        args.estimates.close()
    print(report(rows))
    return 1 if any(r['status'] == 'FAIL' for r in rows) else 0


if __name__ == '__main__':
    run_main(main)
