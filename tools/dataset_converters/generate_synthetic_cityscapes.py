r"""Write a synthetic street-scene dataset in the Cityscapes layout (train ids, 255 = ignore), or
in ADE20K's (labels 0-150, 0 = ignore through reduce_zero_label, images of varied sizes).

    python tools/dataset_converters/generate_synthetic_cityscapes.py \
        --out data/synthetic_cityscapes --num-train 200 --num-val 50 --size 256 512 --seed 0
    python tools/dataset_converters/generate_synthetic_cityscapes.py --layout ade20k \
        --out data/synthetic_ade20k --num-train 200 --num-val 50 --short-side 256

Train any config on it without the real dataset: ``--synthetic-data DIR`` on tools/train.py picks
the layout from the config's dataset type, or ``mmseg_rga.tooling.synthetic_data``'s
``use_synthetic_data(cfg, root)`` / ``use_synthetic_ade20k(cfg, root, short_side)``.
"""
import argparse
import sys
import time
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

from mmseg_rga.datasets.synthetic import (  # noqa: E402
    generate_synthetic_ade20k,
    generate_synthetic_cityscapes,
)
from mmseg_rga.tooling.errors import add_debug_argument, run_main  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--layout', choices=['cityscapes', 'ade20k'], default='cityscapes',
                        help="Cityscapes' leftImg8bit/gtFine tree or ADE20K's images/annotations")
    parser.add_argument('--out', default=None, help='output root (default: '
                        'data/synthetic_cityscapes or data/synthetic_ade20k)')
    parser.add_argument('--num-train', type=int, default=200)
    parser.add_argument('--num-val', type=int, default=50)
    parser.add_argument('--size', type=int, nargs=2, default=(256, 512), metavar=('H', 'W'),
                        help='cityscapes: image height and width')
    parser.add_argument('--short-side', type=int, default=256,
                        help='ade20k: short side of every image (aspects 4:3, 3:4, 1:1, 2:1, '
                        '1:2, 4:1 in turn)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--city', default='synth',
                        help='cityscapes: city folder / file-name prefix')
    add_debug_argument(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    out = args.out or f'data/synthetic_{args.layout}'
    start = time.perf_counter()
    if args.layout == 'ade20k':
        info = generate_synthetic_ade20k(out, args.num_train, args.num_val, args.short_side,
                                         args.seed)
        sizes = f'varied sizes (short side {args.short_side})'
    else:
        info = generate_synthetic_cityscapes(out, args.num_train, args.num_val, tuple(args.size),
                                             args.seed, args.city)
        sizes = f'{args.size[0]}x{args.size[1]}'
    print(f'wrote {info["num_train"]} train + {info["num_val"]} val images of {sizes} in the '
          f'{args.layout} layout to {out} in {time.perf_counter() - start:.1f}s')


if __name__ == '__main__':
    run_main(main)
