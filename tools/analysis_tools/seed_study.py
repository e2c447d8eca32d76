"""Multi-seed proxy study: PSPNet vs. PSPNet + RGA-SC on the synthetic street scenes (CPU).

    python tools/analysis_tools/seed_study.py [--seeds 3] [--iters 1000]
                                              [--work-dir work_dirs/seed_study]

Same data, models and schedule as ``tools/demo.py`` (200 train / 50 val generated 128x256 scenes,
data seed 0; ``configs/demo/pspnet_r18-d8_synthetic.py`` and ``pspnet-rga_r18-d8_synthetic.py``,
1000 iterations of batch 4, sliding-window test). Seeds 0..N-1 set ``randomness.seed``, i.e.
the initial weights and the data order; the dataset is the same for every seed. Every run is
``tools/train.py`` + ``tools/test.py`` in a subprocess (``--jobs`` of them at a time); a finished
run (its ``result.json``) is reused, so an interrupted study resumes. Prints mean +- std mIoU
per model, the per-seed paired differences, per-class IoU deltas and a paired t-test verdict;
writes ``study.md`` (headed by the machine: CPU model, threads, versions, date), ``study.json``
and ``study.png`` into the work dir.
"""
import argparse
import json
import math
import os
import os.path as osp
import re
import shlex
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed
REPO = str(ROOT)

from mmseg_rga.tooling.errors import ToolError, add_debug_argument, run_main  # noqa: E402
from mmseg_rga.tooling.experiment import (  # noqa: E402
    data_root_options,
    describe_machine,
    final_checkpoint,
    machine_summary,
    read_test_metrics,
    run_tool,
    schedule_options,
)

MODELS = (('baseline', 'PSPNet', 'configs/demo/pspnet_r18-d8_synthetic.py'),
          ('rga', 'PSPNet + RGA-SC', 'configs/demo/pspnet-rga_r18-d8_synthetic.py'))
# two-sided 95% critical values of Student's t for df = 1..10 (larger df: 2.0, close enough)
T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)

ROW = re.compile(r'^\|\s*([^|]+?)\s*\|\s*([-\d.]+|nan)\s*\|\s*([-\d.]+|nan)\s*\|\s*$')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--work-dir', default='work_dirs/seed_study')
    p.add_argument('--data-root', default='data/synthetic_cityscapes')
    p.add_argument('--seeds', type=int, default=3, help='number of seeds (0..N-1)')
    p.add_argument('--iters', type=int, default=1000, help='training iterations per run')
    p.add_argument('--batch-size', type=int, default=4)
    p.add_argument('--num-train', type=int, default=200)
    p.add_argument('--num-val', type=int, default=50)
    p.add_argument('--size', type=int, nargs=2, default=(128, 256), metavar=('H', 'W'))
    p.add_argument('--data-seed', type=int, default=0, help='seed of the generated dataset')
    p.add_argument('--threads', type=int, default=0,
                   help='torch CPU threads per run (OMP/MKL_NUM_THREADS; 0: leave as is)')
    add_debug_argument(p)
    p.add_argument('--jobs', type=int, default=1,
                   help='runs at a time (default 1; e.g. --jobs 2 --threads 1 on 2 cores)')
    args = p.parse_args(argv)
    if args.threads < 0:
        p.error(f'--threads must be >= 0; got {args.threads}')
    for name in ('seeds', 'iters', 'batch_size', 'num_train', 'num_val', 'jobs'):
        if getattr(args, name) < 1:
            p.error(f'--{name.replace("_", "-")} must be >= 1; got {getattr(args, name)}')
    if min(args.size) < 128:
        p.error(f'--size must be at least 128x128 (the demo configs crop 128x128); got {args.size}')
    return args


def parse_per_class(log_path):
    """{class: IoU} from mmseg's 'per class results' table in a tools/test.py log."""
    with open(log_path) as f:
        lines = f.read().splitlines()
    starts = [i for i, ln in enumerate(lines) if 'per class results' in ln]
    if not starts:
        raise ToolError(f'no "per class results" table in {log_path}')
    ious = {}
    for ln in lines[starts[-1] + 1:]:
        m = ROW.match(ln.strip())
        if m and m.group(1) != 'Class':
            ious[m.group(1)] = float(m.group(2))
        elif ious and not ln.strip().startswith(('+', '|')):
            break
    return ious


def train_and_test(config, seed, run_dir, args):
    """tools/train.py then tools/test.py for one (model, seed); returns the metrics."""
    n, data = args.iters, data_root_options(args.data_root)
    tools = osp.join(REPO, 'tools')
    train_cmd = [sys.executable, osp.join(tools, 'train.py'), config, '--work-dir', run_dir,
                 '--cfg-options', *data, *schedule_options(n, args.batch_size, seed, 50)]
    train_s = run_tool(train_cmd, osp.join(run_dir, 'train_stdout.log'), REPO,
                       threads=args.threads)
    checkpoint = final_checkpoint(run_dir, n)
    test_dir = osp.join(run_dir, 'test')
    test_cmd = [sys.executable, osp.join(tools, 'test.py'), config, checkpoint,
                '--work-dir', test_dir, '--cfg-options', *data]
    log = osp.join(run_dir, 'test_stdout.log')
    run_tool(test_cmd, log, REPO, threads=args.threads)
    return dict(mIoU=float(read_test_metrics(test_dir)['mIoU']), per_class=parse_per_class(log),
                train_time_s=train_s, iters=n, batch_size=args.batch_size, seed=seed,
                commands=[' '.join(shlex.quote(osp.relpath(c, REPO) if c.startswith(REPO)
                                               else c) for c in cmd)
                          for cmd in (train_cmd, test_cmd)])


def mean_std(values):
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else float('nan')
    return mean, std


def summarize(results, seeds):
    """Means, stds, paired differences, per-class deltas and the t-test verdict."""
    base = [results['baseline'][s]['mIoU'] for s in seeds]
    rga = [results['rga'][s]['mIoU'] for s in seeds]
    diffs = [r - b for r, b in zip(rga, base)]
    d_mean, d_std = mean_std(diffs)
    n = len(diffs)
    classes = list(results['baseline'][seeds[0]]['per_class'])
    per_class = {}
    for c in classes:
        ds = [results['rga'][s]['per_class'].get(c, float('nan')) -
              results['baseline'][s]['per_class'].get(c, float('nan')) for s in seeds]
        ds = [d for d in ds if not math.isnan(d)]
        if ds:
            per_class[c] = mean_std(ds)
    if n < 2:
        verdict = 'one seed: no test possible'
        t = half = float('nan')
    else:
        se = d_std / math.sqrt(n)
        crit = T95[n - 2] if n - 1 <= len(T95) else 2.0
        half = crit * se
        t = d_mean / se if se > 0 else (0.0 if d_mean == 0 else math.copysign(math.inf, d_mean))
        if abs(t) <= crit:
            verdict = 'no significant difference'
        else:
            verdict = 'RGA-SC better' if d_mean > 0 else 'RGA-SC worse'
        verdict += (f' (paired t-test, {n} seeds: t = {t:.2f}, two-sided 95% critical value '
                    f'{crit:.2f}; 95% CI of the mean difference '
                    f'[{d_mean - half:+.2f}, {d_mean + half:+.2f}])')
    wins = sum(d > 0 for d in diffs)
    return dict(baseline=mean_std(base), rga=mean_std(rga), base=base, rga_list=rga, diffs=diffs,
                diff=(d_mean, d_std), t=t, ci_half=half, wins=wins, per_class=per_class,
                verdict=verdict)


def markdown(summary, seeds, args, command, machine):
    b, r, d = summary['baseline'], summary['rga'], summary['diff']
    lines = ['| seed | PSPNet mIoU (%) | PSPNet + RGA-SC mIoU (%) | RGA-SC - PSPNet |',
             '|---:|---:|---:|---:|']
    for s, x, y, z in zip(seeds, summary['base'], summary['rga_list'], summary['diffs']):
        lines.append(f'| {s} | {x:.2f} | {y:.2f} | {z:+.2f} |')
    lines.append(f'| mean +- std | {b[0]:.2f} +- {b[1]:.2f} | {r[0]:.2f} +- {r[1]:.2f} '
                 f'| {d[0]:+.2f} +- {d[1]:.2f} |')
    lines += ['', '| class | IoU delta, mean +- std over seeds |', '|---|---:|']
    lines += [f'| {c} | {m:+.2f} +- {s:.2f} |' for c, (m, s) in summary['per_class'].items()]
    head = [f'`{command}`', '', f'Machine: {describe_machine(machine)}.', '',
            f'{len(seeds)} seeds (randomness.seed = {", ".join(map(str, seeds))}: init and data '
            f'order), {args.iters} iterations of batch {args.batch_size} per run, '
            f'{args.num_train} train / {args.num_val} val generated {args.size[0]}x{args.size[1]}'
            f' scenes (data seed {args.data_seed}), sliding-window test on val.', '',
            f'Verdict: {summary["verdict"]}; RGA-SC ahead on {summary["wins"]} of {len(seeds)} '
            'seeds.', '']
    return '\n'.join(head + lines) + '\n'


def plot(summary, seeds, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw=dict(width_ratios=(1, 2.4)))
    for s, x, y in zip(seeds, summary['base'], summary['rga_list']):
        ax0.plot([0, 1], [x, y], '-o', color='0.6', ms=4)
        ax0.annotate(f'seed {s}', (1.04, y), fontsize=7, va='center')
    for i, key in enumerate(('baseline', 'rga')):
        m, sd = summary[key]
        ax0.errorbar([i], [m], yerr=[0 if math.isnan(sd) else sd], fmt='s', color='C%d' % i,
                     capsize=6, ms=8, zorder=3)
    ax0.set_xticks([0, 1], ['PSPNet', 'PSPNet\n+ RGA-SC'])
    ax0.set_xlim(-0.4, 1.5)
    ax0.set_ylabel('val mIoU (%)')
    ax0.set_title('per seed (grey: paired), mean +- std', fontsize=9)
    names = list(summary['per_class'])
    means = [summary['per_class'][c][0] for c in names]
    stds = [0 if math.isnan(summary['per_class'][c][1]) else summary['per_class'][c][1]
            for c in names]
    ax1.bar(range(len(names)), means, yerr=stds, capsize=2,
            color=['C2' if m > 0 else 'C3' for m in means])
    ax1.axhline(0, color='k', lw=0.8)
    ax1.set_xticks(range(len(names)), names, rotation=60, ha='right', fontsize=8)
    ax1.set_ylabel('IoU(RGA-SC) - IoU(PSPNet)')
    ax1.set_title('per-class IoU delta, mean +- std over seeds', fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def prepare_data(args):
    from mmseg_rga.datasets.synthetic import (
        generate_synthetic_cityscapes,
        synthetic_dataset_matches,
    )
    size = tuple(args.size)
    if not synthetic_dataset_matches(args.data_root, args.num_train, args.num_val, size,
                                     args.data_seed):
        generate_synthetic_cityscapes(args.data_root, args.num_train, args.num_val, size,
                                      args.data_seed)
        print(f'wrote {args.num_train}+{args.num_val} synthetic scenes to {args.data_root}')


def run_all(args, seeds):
    """Every (seed, model) run, seed-major so paired results accumulate; finished ones reused;
    ``args.jobs`` runs at a time (each a train.py + test.py subprocess)."""
    results = {key: {} for key, _, _ in MODELS}
    pending = []
    for seed in seeds:
        for key, name, config in MODELS:
            run_dir = osp.join(args.work_dir, key, f'seed{seed}')
            done = osp.join(run_dir, 'result.json')
            if osp.isfile(done):
                with open(done) as f:
                    r = json.load(f)
                if (r['iters'], r['batch_size']) == (args.iters, args.batch_size):
                    print(f'{name}, seed {seed}: reusing {done} (mIoU {r["mIoU"]:.2f})')
                    results[key][seed] = r
                    continue
            os.makedirs(run_dir, exist_ok=True)
            pending.append((seed, key, name, config, run_dir, done))

    def run(seed, key, name, config, run_dir, done):
        print(f'== {name}, seed {seed}: {args.iters} iterations', flush=True)
        r = train_and_test(osp.join(REPO, config), seed, run_dir, args)
        with open(done, 'w') as f:
            json.dump(r, f, indent=2)
        print(f'   {name}, seed {seed}: mIoU {r["mIoU"]:.2f} (trained in '
              f'{r["train_time_s"]:.0f}s)', flush=True)
        results[key][seed] = r

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:  # threads: the runs are processes
        for future in [pool.submit(run, *job) for job in pending]:
            future.result()
    return results


def main(argv=None):
    args = parse_args(argv)
    command = ' '.join(['python tools/analysis_tools/seed_study.py'] +
                       [shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)])
    os.makedirs(args.work_dir, exist_ok=True)
    prepare_data(args)
    seeds = list(range(args.seeds))
    results = run_all(args, seeds)
    summary = summarize(results, seeds)
    machine = machine_summary()  # whose numbers these are: CPU, threads, versions, date
    if args.threads:  # what each run had (the runs are subprocesses with OMP_NUM_THREADS set)
        machine.update(torch_threads=str(args.threads), omp_num_threads=str(args.threads))
    md = markdown(summary, seeds, args, command, machine)
    print('\n' + md)
    with open(osp.join(args.work_dir, 'study.md'), 'w') as f:
        f.write(md)
    with open(osp.join(args.work_dir, 'study.json'), 'w') as f:
        json.dump(dict(settings=vars(args), command=command, machine=machine, summary=summary,
                       results=results), f, indent=2, default=list)
    plot(summary, seeds, osp.join(args.work_dir, 'study.png'))
    print(f'wrote study.md, study.json and study.png to {args.work_dir}')
    return summary


if __name__ == '__main__':
    run_main(main)
