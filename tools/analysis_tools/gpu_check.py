"""GPU acceptance run: what a CPU cannot show, checked on a CUDA host, reported in one table.

1. numerics: the relation path, the pooling and the RGA-SC block on CUDA (fp32, TF32 off)
   against the CPU in fp64, outputs and gradients (mmseg_rga/analysis/device_checks.py);
2. train: two training iterations of every RGA Table-6 config (both families) at 769x769,
   batch 2, fp32 and AMP, through mmengine's ``train_step`` and the config's optimizer: the
   losses are finite; ``torch.cuda.max_memory_allocated`` of the second iteration is printed
   beside estimate_memory.py's number (``--no-estimate``: left out);
3. slide: ``BatchedSlideEncoderDecoder`` against mmseg's slide inference, same weights, one
   1024x2048 image, R-101 pspnet-rga config (equal logits);
4. ddp: with >= 2 GPUs, a 2-process torchrun step of pspnet-rga with SyncBN (the running
   statistics and the parameters agree across the ranks);
5. benchmarks: benchmark_heads.py --device cuda as a subprocess (its table follows the main
   one); benchmark_relation.py has no device flag (CPU only) and is listed as not run.

SyncBN is turned into BN for the single-process checks. On a host without CUDA it prints one
line and exits 0. Exit 1 when a check fails. ::

    python tools/analysis_tools/gpu_check.py                      # everything (not yet timed)
    python tools/analysis_tools/gpu_check.py --only numerics slide --out gpu_check.md
"""
import argparse
import math
import os
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

import torch  # noqa: E402

from mmseg_rga.compat import FAKE_TENSOR_NEEDS, FAKE_TENSOR_TRACING  # noqa: E402
from mmseg_rga.tooling.errors import add_debug_argument, run_main  # noqa: E402

CHECKS = ('numerics', 'train', 'slide', 'ddp', 'benchmarks')
SUFFIX = '_r101-d8_4xb2-{}_cityscapes-769x769.py'
#: every config of a Table-6 RGA row: the mmseg-recipe family (40k; the C5 placement at 80k)
#: and the paper-protocol family (both placements)
RGA_CONFIGS = [f'configs/rga/{m}-rga' + SUFFIX.format('40k') for m in ('fcn', 'pspnet',
                                                                      'deeplabv3')]
RGA_CONFIGS += ['configs/rga/fcn-rganeck' + SUFFIX.format('80k')]
RGA_CONFIGS += [f'configs/rga/paper_protocol/{m}-{p}' + SUFFIX.format('40k')
                for m in ('ocnet-baseline', 'pspnet', 'deeplabv3') for p in ('rga', 'rganeck')]
SLIDE_CONFIG = 'configs/rga/pspnet-rga' + SUFFIX.format('40k')
NUMERICS_LIMIT = 1e-4  # max relative error, fp32 (TF32 off) against fp64
SLIDE_LIMIT = 1e-4
GIB = 2 ** 30
#: why the estimate column is empty on a torch older than the estimator needs
ESTIMATE_NA = '' if FAKE_TENSOR_TRACING else ' ({} needs torch >= {})'.format(*FAKE_TENSOR_NEEDS)


def memory_estimate(config: str, amp: bool, batch: int, size) -> int:
    """estimate_memory.py's peak for one training iteration on one GPU, in bytes (its library
    function, ``mmseg_rga.analysis.segmentor_memory.estimate_config``: fake tensors)."""
    from mmengine.config import Config

    from mmseg_rga.analysis.segmentor_memory import estimate_config
    return estimate_config(Config.fromfile(config), mode='train', amp=amp, batch_size=batch,
                           shape=tuple(size)).peak


def _row(check, case, measured, reference, ok):
    status = {True: 'ok', False: 'FAIL', None: 'skipped'}[ok]
    return dict(check=check, case=case, measured=measured, reference=reference, status=status)


def _guarded(check, case, fn):
    """``fn()`` -> its row; an exception (OOM, a bug) is a failed row, the run goes on."""
    try:
        return fn()
    except Exception as err:  # noqa: B902  (an acceptance run reports, it does not stop)
        traceback.print_exc()
        return _row(check, case, f'{type(err).__name__}: {" ".join(str(err).split())[:120]}',
                    '-', False)


def check_numerics(args):
    from mmseg_rga.analysis.device_checks import compare_with_fp64, numerics_cases

    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    rows = []
    for name, (fn, module, inputs) in numerics_cases().items():
        def run(name=name, fn=fn, module=module, inputs=inputs):
            err = compare_with_fp64(fn, module, inputs, args.device)
            return _row('numerics', name, f'output {err["output"]:.1e}, grad {err["grad"]:.1e}',
                        f'< {NUMERICS_LIMIT:.0e}', max(err.values()) < NUMERICS_LIMIT)
        rows.append(_guarded('numerics', name, run))
    return rows


def check_train(args):
    from mmseg_rga.analysis.device_checks import train_iteration

    torch.backends.cuda.matmul.allow_tf32 = False  # torch's default (cuDNN's TF32 stays on)
    torch.backends.cudnn.allow_tf32 = True
    rows = []
    for config in RGA_CONFIGS:
        for amp in (False, True):
            case = f'{Path(config).stem}{" (paper)" if "paper_protocol" in config else ""}, ' \
                   f'{"AMP" if amp else "fp32"}'

            def run(config=config, amp=amp, case=case):
                res = train_iteration(ROOT / config, args.device, amp=amp, batch=2,
                                      size=(769, 769))
                torch.cuda.empty_cache()
                estimate = None if args.no_estimate or not FAKE_TENSOR_TRACING else \
                    memory_estimate(str(ROOT / config), amp, 2, (769, 769))
                losses = ', '.join(f'{v:.3f}' for v in res['losses'])
                return _row('train', case,
                            f'loss {losses}; max_memory_allocated '
                            f'{res["peak_bytes"] / GIB:.2f} GiB',
                            f'estimate n/a{ESTIMATE_NA}' if estimate is None else
                            f'estimate {estimate / GIB:.2f} GiB', res['finite'])
            rows.append(_guarded('train', case, run))
    return rows


def check_slide(args):
    from mmseg_rga.analysis.device_checks import slide_difference

    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    case = f'{Path(SLIDE_CONFIG).stem}, 1024x2048, 769 crops, stride 513'

    def run():
        res = slide_difference(ROOT / SLIDE_CONFIG, args.device)
        return _row('slide', case, f'logits {res["logits"]:.1e}, argmax differs on '
                    f'{100 * res["argmax_differ"]:.4f}% of pixels', f'< {SLIDE_LIMIT:.0e}',
                    res['logits'] < SLIDE_LIMIT)
    return [_guarded('slide', case, run)]


def check_ddp(args):
    import json
    case = f'2-process torchrun, SyncBN, {Path(SLIDE_CONFIG).stem}, 769x769, batch 2/GPU'
    if torch.cuda.device_count() < 2:
        return [_row('ddp', case, f'{torch.cuda.device_count()} GPU on this host', '>= 2 GPUs',
                     None)]

    def run():
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / 'ddp.json'
            cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
                   f'--master_port={29500 + os.getpid() % 1000}', __file__, '--ddp-worker',
                   str(out)]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
            if proc.returncode != 0:
                raise RuntimeError(f'torchrun exited {proc.returncode}: '
                                   f'{proc.stderr.strip().splitlines()[-1:]}')
            res = json.loads(out.read_text())
        ok = (res['syncbn_layers'] > 0 and all(math.isfinite(v) for v in res['losses'])
              and res['stats_spread'] < 1e-5 and res['params_spread'] < 1e-6)
        return _row('ddp', case, f'{res["syncbn_layers"]} SyncBN layers; losses '
                    f'{", ".join(f"{v:.3f}" for v in res["losses"])}; spread across ranks: '
                    f'BN stats {res["stats_spread"]:.1e}, params {res["params_spread"]:.1e}',
                    'stats < 1e-5, params < 1e-6', ok)
    return [_guarded('ddp', case, run)]


def ddp_worker(out: str) -> None:
    """One torchrun process of check 4; rank 0 writes the result to ``out``."""
    import json

    from mmseg_rga.analysis.device_checks import syncbn_step
    result = syncbn_step(ROOT / SLIDE_CONFIG)
    if int(os.environ.get('RANK', 0)) == 0:
        Path(out).write_text(json.dumps(result))


def check_benchmarks(args, appendix):
    script = ROOT / 'tools' / 'analysis_tools' / 'benchmark_heads.py'
    cmd = [sys.executable, str(script), '--device', args.device, '--reps', '10']
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    appendix.append(f'$ python tools/analysis_tools/benchmark_heads.py --device {args.device} '
                    f'--reps 10\n{proc.stdout}')
    rows = [_row('benchmarks', 'benchmark_heads.py --device cuda (table below)',
                 f'exit {proc.returncode}', '-', proc.returncode == 0
                 and 'n/a (' not in proc.stdout)]
    rows.append(_row('benchmarks', 'benchmark_relation.py', 'not run: it has no --device '
                     'flag (CPU only)', '-', None))
    return rows


def format_table(rows) -> str:
    lines = ['| check | case | measured | reference | status |', '| --- | --- | --- | --- | --- |']
    lines += [f'| {r["check"]} | {r["case"]} | {r["measured"]} | {r["reference"]} | '
              f'{r["status"]} |' for r in rows]
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--only', nargs='+', choices=CHECKS, default=list(CHECKS),
                        help='run these checks only (default: all)')
    parser.add_argument('--no-estimate', action='store_true',
                        help="leave out estimate_memory.py's estimate")
    parser.add_argument('--out', help='also write the report (markdown) to this file')
    parser.add_argument('--ddp-worker', metavar='OUT', help=argparse.SUPPRESS)
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    if args.ddp_worker:
        return ddp_worker(args.ddp_worker)
    if not torch.cuda.is_available():
        print('gpu_check: no CUDA device on this host (torch.cuda.is_available() is False); '
              'nothing was checked.')
        return 0
    args.device = 'cuda'
    rows, appendix = [], []
    run_check = dict(numerics=check_numerics, train=check_train, slide=check_slide,
                     ddp=check_ddp, benchmarks=lambda a: check_benchmarks(a, appendix))
    for check in args.only:
        rows += run_check[check](args)
    header = (f'gpu_check on {torch.cuda.get_device_name(0)} x {torch.cuda.device_count()}, '
              f'torch {torch.__version__}, CUDA {torch.version.cuda}')
    report = '\n\n'.join([header, format_table(rows)] + appendix)
    print(report)
    if args.out:
        Path(args.out).write_text(report + '\n')
    return 1 if any(r['status'] == 'FAIL' for r in rows) else 0


if __name__ == '__main__':
    run_main(main)
