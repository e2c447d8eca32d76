r"""Convert an official re-id ``RGA_Module`` checkpoint into ``RGABlock`` weights.

    python tools/model_converters/convert_official_rga.py INPUT.pth[.tar] OUTPUT.pth \
        --prefix backbone.rga_att4. [--dst-prefix neck.rga_blocks.0.]

INPUT is the official checkpoint (a state dict, or a dict holding one under ``state_dict``, as
the official re-id checkpoints do); ``--prefix`` selects one RGA module in it
(``backbone.rga_att1.`` ... ``backbone.rga_att4.``). OUTPUT holds ``{'state_dict': ...}`` with
:class:`~mmseg_rga.models.rga.RGABlock` keys, prefixed by ``--dst-prefix``: the module path of
the block in the model that loads it, e.g. ``neck.rga_blocks.0.`` for the C5 neck, which fits
``rga_att4`` (2048 channels, 16x8 nodes; docs/usage.md). The block is ``RGABlock(in_channel,
pooled_size=(h, w), order='SC', ratio_channel=cha_ratio, ratio_spatial=spa_ratio,
ratio_logit=down_ratio)`` with h * w == in_spatial (see ``mmseg_rga/models/convert.py``).
"""
import argparse
import os
import os.path as osp
import sys
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

import torch  # noqa: E402

from mmseg_rga.models.convert import convert_official_rga  # noqa: E402
from mmseg_rga.tooling.errors import ToolError, add_debug_argument, run_main  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('input', help='official checkpoint (.pth or .pth.tar)')
    parser.add_argument('output', help='converted checkpoint (.pth)')
    parser.add_argument('--prefix', default='',
                        help="the RGA module's key prefix in INPUT, e.g. 'backbone.rga_att4.'")
    parser.add_argument('--dst-prefix', default='',
                        help="prefix of the converted keys, e.g. 'neck.rga_blocks.0.'")
    add_debug_argument(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.input):
        raise ToolError(f'input checkpoint {args.input!r} does not exist')
    # tensors and plain containers only: weights_only loading is enough and safe
    checkpoint = torch.load(args.input, map_location='cpu', weights_only=True)
    state_dict = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state_dict, dict):
        raise ToolError(f'{args.input} holds no state dict (got {type(checkpoint).__name__})')
    converted = convert_official_rga(state_dict, prefix=args.prefix)
    converted = {args.dst_prefix + key: value for key, value in converted.items()}
    os.makedirs(osp.dirname(osp.abspath(args.output)), exist_ok=True)
    torch.save({'state_dict': converted}, args.output)
    print(f'wrote {len(converted)} tensors to {args.output}')


if __name__ == '__main__':
    run_main(main)
