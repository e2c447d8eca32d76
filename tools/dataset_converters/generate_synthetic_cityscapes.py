"""Write a synthetic street-scene dataset in the Cityscapes layout (train ids, 255 = ignore).

    python tools/dataset_converters/generate_synthetic_cityscapes.py \
        --out data/synthetic_cityscapes --num-train 200 --num-val 50 --size 256 512 --seed 0

Train any config on it without Cityscapes: ``--synthetic-data DIR`` on tools/train.py, or
``mmseg_rga.tooling.synthetic_data.use_synthetic_data(cfg, root)``.
"""
import argparse
import sys
import time
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

from mmseg_rga.datasets.synthetic import generate_synthetic_cityscapes  # noqa: E402
from mmseg_rga.tooling.errors import add_debug_argument, run_main  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='data/synthetic_cityscapes', help='output root')
    parser.add_argument('--num-train', type=int, default=200)
    parser.add_argument('--num-val', type=int, default=50)
    parser.add_argument('--size', type=int, nargs=2, default=(256, 512), metavar=('H', 'W'),
                        help='image height and width')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--city', default='synth', help='city folder / file-name prefix')
    add_debug_argument(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    info = generate_synthetic_cityscapes(args.out, args.num_train, args.num_val,
                                         tuple(args.size), args.seed, args.city)
    print(f'wrote {info["num_train"]} train + {info["num_val"]} val images of '
          f'{args.size[0]}x{args.size[1]} to {args.out} in {time.perf_counter() - start:.1f}s')


if __name__ == '__main__':
    run_main(main)
