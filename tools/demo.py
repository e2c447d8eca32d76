"""RGA-SC vs. its baseline on synthetic street scenes, on a CPU (``--tiny``: a quick check).

    python tools/demo.py [--work-dir work_dirs/demo] [--num-train 200] [--num-val 50]
                         [--iters 1000] [--tiny]

1. writes the synthetic Cityscapes-format dataset (as
   ``tools/dataset_converters/generate_synthetic_cityscapes.py`` does) unless it is there;
2. trains ``configs/demo/pspnet_r18-d8_synthetic.py`` (PSPNet, half-width dilated
   ResNetV1c-18, from scratch) and ``configs/demo/pspnet-rga_r18-d8_synthetic.py`` (the same
   with RGA-SC in the head) with the same schedule, each by running ``tools/train.py``;
3. evaluates both with sliding windows by running ``tools/test.py``;
4. prints a table (mIoU, parameters, train time) and writes ``results.md``, ``results.json`` and
   ``demo.png`` (rows: input, ground truth, baseline, RGA-SC, RGA-SC spatial attention) into the
   work dir.

Every number comes from the subprocesses' own outputs; the printed commands reproduce them.
``--tiny`` (4+2 images, 2 iterations; ``make demo-tiny``) only checks that the pipeline runs:
40-45 s once the environment exists (AMD EPYC, 2 cores, 2 threads, 2026-12-04; README, "The
five-minute check"). With the defaults (1000 iterations per model) it took 7 to 28 minutes on
2-core machines, the longest on cores shared with other jobs (docs/demo.md, "Times");
``--iters 300`` is a quicker look.
"""
import argparse
import glob
import json
import os
import os.path as osp
import shlex
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

from mmseg_rga.tooling.errors import ToolError, add_debug_argument, run_main  # noqa: E402

REPO = str(ROOT)
TOOLS = osp.join(REPO, 'tools')

import numpy as np  # noqa: E402

from mmseg_rga.datasets.synthetic import (  # noqa: E402
    IMG_SUFFIX,
    SEG_MAP_SUFFIX,
    generate_synthetic_cityscapes,
    synthetic_dataset_matches,
)
from mmseg_rga.tooling.experiment import (  # noqa: E402
    data_root_options,
    final_checkpoint,
    read_test_metrics,
    run_tool,
    schedule_options,
)
from mmseg_rga.tooling.inference import load_model  # noqa: E402
from mmseg_rga.tooling.launch import positive_int  # noqa: E402
from mmseg_rga.visualization import (  # noqa: E402
    capture_gates,
    draw_heatmap,
    draw_segmentation,
    find_rga_blocks,
)

MODELS = (
    ('baseline', 'PSPNet', osp.join(REPO, 'configs/demo/pspnet_r18-d8_synthetic.py')),
    ('rga', 'PSPNet + RGA-SC', osp.join(REPO, 'configs/demo/pspnet-rga_r18-d8_synthetic.py')),
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='RGA-SC vs. baseline on synthetic scenes (CPU).')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/synthetic_cityscapes',
                        help='where the synthetic dataset is (or is written)')
    parser.add_argument('--num-train', type=positive_int, default=200)
    parser.add_argument('--num-val', type=positive_int, default=50)
    parser.add_argument('--size', type=int, nargs=2, default=(128, 256), metavar=('H', 'W'),
                        help='generated image size (the demo configs crop 128x128)')
    parser.add_argument('--iters', type=positive_int, default=1000,
                        help='training iterations per model')
    parser.add_argument('--batch-size', type=positive_int, default=4)
    parser.add_argument('--seed', type=int, default=0, help='data and training seed')
    parser.add_argument('--num-figure-images', type=positive_int, default=4)
    parser.add_argument('--tiny', action='store_true',
                        help='4 train + 2 val images, 2 iterations: a smoke test (CI)')
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    if args.tiny:
        args.num_train, args.num_val, args.iters = 4, 2, 2
        args.num_figure_images = min(args.num_figure_images, 2)
        if args.data_root == parser.get_default('data_root'):
            args.data_root = osp.join(args.work_dir, 'data')
    if min(args.size) < 128:
        parser.error(f'--size must be at least 128x128 (the demo crop); got {args.size}')
    return args


def train(config: str, work_dir: str, args) -> Dict:
    """tools/train.py on ``config``; returns checkpoint path and train time."""
    options = data_root_options(args.data_root) + schedule_options(
        args.iters, args.batch_size, args.seed, log_interval=10)
    os.makedirs(work_dir, exist_ok=True)
    cmd = [sys.executable, osp.join(TOOLS, 'train.py'), config, '--work-dir', work_dir,
           '--cfg-options', *options]
    seconds = run_tool(cmd, osp.join(work_dir, 'train_stdout.log'), REPO, echo=True)
    return dict(checkpoint=final_checkpoint(work_dir, args.iters), train_time_s=seconds,
                train_cmd=cmd)


def test(config: str, checkpoint: str, work_dir: str, args) -> Dict:
    """tools/test.py (sliding windows, as in the config); returns its metrics."""
    test_dir = osp.join(work_dir, 'test')
    os.makedirs(test_dir, exist_ok=True)
    before = glob.glob(osp.join(test_dir, '*', '*.json'))
    cmd = [sys.executable, osp.join(TOOLS, 'test.py'), config, checkpoint, '--work-dir', test_dir,
           '--cfg-options', *data_root_options(args.data_root)]
    seconds = run_tool(cmd, osp.join(work_dir, 'test_stdout.log'), REPO, echo=True)
    metrics = read_test_metrics(test_dir, ignore=before)
    return dict(mIoU=float(metrics['mIoU']), aAcc=float(metrics.get('aAcc', float('nan'))),
                mAcc=float(metrics.get('mAcc', float('nan'))), test_time_s=seconds,
                test_cmd=cmd)


def count_parameters(model) -> Dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    rga = sum(p.numel() for b in find_rga_blocks(model).values() for p in b.parameters())
    return dict(params=int(total), rga_params=int(rga))


def _predict(model, path: str) -> np.ndarray:
    from mmseg.apis import inference_model
    return inference_model(model, path).pred_sem_seg.data[0].cpu().numpy()


def _spatial_gate(model, path: str) -> Optional[np.ndarray]:
    """The last block's spatial gate (H, W) of one whole-image pass (the block sees it all)."""
    from mmseg.apis import inference_model
    saved = model.test_cfg
    model.test_cfg = type(saved)(mode='whole')
    try:
        with capture_gates(model) as gates:
            inference_model(model, path)
    finally:
        model.test_cfg = saved
    spatial = [g['spatial'][0, 0].cpu().numpy() for g in gates.values() if 'spatial' in g]
    return spatial[-1] if spatial else None


def make_figure(models: Dict, results: Dict, images: List[str], out_path: str) -> None:
    """demo.png: one column per image; rows input, GT, baseline, RGA-SC, RGA-SC attention."""
    import cv2
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ToolError(f'the demo figure needs matplotlib: pip install matplotlib ({err})')

    meta = models['rga'].dataset_meta
    colorize = lambda rgb, seg: draw_segmentation(rgb, seg, meta, opacity=1.0)  # noqa: E731
    rows = ['input', 'ground truth', f'{MODELS[0][1]} (mIoU {results["baseline"]["mIoU"]:.1f})',
            f'{MODELS[1][1]} (mIoU {results["rga"]["mIoU"]:.1f})', 'RGA-SC spatial attention']
    panels = [[None] * len(images) for _ in rows]
    for j, path in enumerate(images):
        rgb = cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        gt_path = path.replace('leftImg8bit', 'gtFine', 1)[:-len(IMG_SUFFIX)] + SEG_MAP_SUFFIX
        panels[0][j] = rgb
        panels[1][j] = colorize(rgb, cv2.imread(gt_path, cv2.IMREAD_UNCHANGED))
        for i, key in ((2, 'baseline'), (3, 'rga')):  # the config's sliding window
            panels[i][j] = colorize(rgb, _predict(models[key], path))
        spatial = _spatial_gate(models['rga'], path)
        panels[4][j] = rgb if spatial is None else draw_heatmap(rgb, spatial, 0.55)
    h, w = panels[0][0].shape[:2]
    scale = 2.2 / h * 1.0
    fig, axes = plt.subplots(len(rows), len(images), squeeze=False,
                             figsize=(len(images) * w * scale + 1.6, len(rows) * h * scale + 0.4))
    for i, name in enumerate(rows):
        for j in range(len(images)):
            ax = axes[i][j]
            ax.imshow(panels[i][j])
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.tight_layout(pad=0.3)
    fig.savefig(out_path, dpi=100)
    plt.close(fig)


def write_results(results: Dict, args, work_dir: str) -> str:
    from mmseg_rga.tooling.experiment import describe_machine, machine_summary
    machine = machine_summary()
    header = '| model | mIoU (%) | aAcc (%) | params | RGA params | train time (s) |'
    lines = [header, '|---|---:|---:|---:|---:|---:|']
    for key, name, _ in MODELS:
        r = results[key]
        lines.append(f'| {name} | {r["mIoU"]:.2f} | {r["aAcc"]:.2f} | {r["params"] / 1e6:.3f} M '
                     f'| {r["rga_params"] / 1e3:.1f} K | {r["train_time_s"]:.0f} |')
    table = '\n'.join(lines)
    delta = results['rga']['mIoU'] - results['baseline']['mIoU']
    cmd = ' '.join(shlex.quote(a) for a in [sys.executable, 'tools/demo.py'] + sys.argv[1:])
    md = [
        '# RGA-SC demo on synthetic street scenes', '',
        f'`{cmd}`', '',
        f'Data: {args.num_train} train / {args.num_val} val synthetic Cityscapes-format images of '
        f'{args.size[0]}x{args.size[1]} (seed {args.seed}, `{args.data_root}`). Models: '
        f'half-width dilated ResNetV1c-18 (output stride 8) from scratch, {args.iters} '
        f'iterations of batch {args.batch_size}, 128x128 crops; evaluated with 128x128 sliding '
        'windows on val. Train times are wall-clock on a CPU and vary with its load.', '',
        f'Machine: {describe_machine(machine)}.', '',
        table, '',
        f'RGA-SC - baseline: {delta:+.2f} mIoU. One seed, a short CPU schedule: this shows the '
        'pipeline works end to end; it is not a benchmark. The same machine, thread count and '
        'seed give these numbers again; another CPU or thread count gives another training run '
        '(other numbers, as another seed would).', '',
        '![demo](demo.png)', '',
        'Commands run (the logs are next to the checkpoints):', '',
    ]
    for key, _, _ in MODELS:
        for step in ('train_cmd', 'test_cmd'):
            md.append('    ' + ' '.join(shlex.quote(osp.relpath(c, REPO) if osp.isabs(c) and
                                                      c.startswith(REPO) else c)
                                        for c in results[key][step]))
    with open(osp.join(work_dir, 'results.md'), 'w') as f:
        f.write('\n'.join(md) + '\n')
    with open(osp.join(work_dir, 'results.json'), 'w') as f:
        json.dump(dict(settings=dict(vars(args), size=list(args.size)), machine=machine,
                       results=results), f, indent=2)
    return table


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    size = tuple(args.size)
    if synthetic_dataset_matches(args.data_root, args.num_train, args.num_val, size, args.seed):
        print(f'using the synthetic dataset in {args.data_root}')
    else:
        start = time.perf_counter()
        generate_synthetic_cityscapes(args.data_root, args.num_train, args.num_val, size,
                                      args.seed)
        print(f'wrote {args.num_train}+{args.num_val} synthetic scenes to {args.data_root} in '
              f'{time.perf_counter() - start:.1f}s')

    results, models = {}, {}
    for key, name, config in MODELS:
        work_dir = osp.join(args.work_dir, key)
        print(f'\n== {name}: training {args.iters} iterations ({osp.relpath(config, REPO)})')
        r = train(config, work_dir, args)
        print(f'   trained in {r["train_time_s"]:.0f}s -> {r["checkpoint"]}')
        r.update(test(config, r['checkpoint'], work_dir, args))
        print(f'   val mIoU {r["mIoU"]:.2f} (sliding window, {r["test_time_s"]:.0f}s)')
        models[key] = load_model(config, r['checkpoint'], 'cpu', slide=True)
        r.update(count_parameters(models[key]))
        r['config'] = osp.relpath(config, REPO)
        results[key] = r

    images = sorted(glob.glob(osp.join(args.data_root, 'leftImg8bit', 'val', '*',
                                       '*' + IMG_SUFFIX)))[:args.num_figure_images]
    make_figure(models, results, images, osp.join(args.work_dir, 'demo.png'))
    table = write_results(results, args, args.work_dir)
    print('\n' + table)
    print(f'\nwrote {osp.join(args.work_dir, "demo.png")}, results.md and results.json')
    return results


if __name__ == '__main__':
    run_main(main)
