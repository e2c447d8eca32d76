r"""Visualize the gates of every RGA block of a trained model on some images.

    python tools/visualize_attention.py CONFIG CHECKPOINT IMAGE [IMAGE ...] --out DIR \
        [--device cpu] [--top-k 4] [--opacity 0.5] [--slide] [--cfg-options k=v ...] [--unsafe-load]

For each image and each :class:`~mmseg_rga.models.rga.RGABlock` in the model (a neck's
``neck.rga_blocks.<i>`` or a head's ``decode_head.rga``; ``<block>`` below is its module name with
dots as dashes) it writes:

* ``<image>_<block>_spatial.png``: the spatial gate a_s (upsampled, min-max scaled per image)
  as a heat map over the image, like Fig. 3b of the paper;
* ``<image>_<block>_channel-<rank>-c<index>.png``: for the top-k channel gates a_c, the block's
  output map of that channel as a heat map over the image;
* ``<image>_<block>_channel-gates.png``: every channel gate, sorted, as a bar chart (top-k red)
  of a fixed, readable size (:data:`mmseg_rga.visualization.CHART_SIZE`; needs matplotlib);

plus ``<image>_pred.png``, the predicted segmentation over the image (mmseg's
``SegLocalVisualizer``, the checkpoint's palette), and ``<image>_gates.npz`` with the raw gates
(``<block>/spatial`` (H, W) at the feature size, ``<block>/channel`` (C,)). Heat maps and the
prediction have the image's size.

Inference runs in ``whole`` mode by default so that each block sees the whole image once
(a sliding window would leave only the last window's gates); ``--slide`` keeps the config's mode.
"""
import argparse
import os
import os.path as osp
import sys
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

from mmseg_rga.tooling.checkpoint import add_unsafe_load_argument  # noqa: E402
from mmseg_rga.tooling.errors import ToolError, add_debug_argument, run_main  # noqa: E402
from mmseg_rga.tooling.inference import load_model  # noqa: E402
from mmseg_rga.visualization import (  # noqa: E402
    capture_gates,
    channel_gate_chart,
    draw_heatmap,
    draw_segmentation,
    find_rga_blocks,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Visualize the gates of the RGA blocks.')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('images', nargs='+', help='image file(s)')
    parser.add_argument('--out', required=True, help='output directory')
    parser.add_argument('--device', default='cpu', help="e.g. 'cpu' or 'cuda:0'")
    parser.add_argument('--top-k', type=int, default=4, help='channels to show per block')
    parser.add_argument('--opacity', type=float, default=0.5, help='heat-map opacity in [0, 1]')
    parser.add_argument('--slide', action='store_true',
                        help="keep the config's test mode (default: whole-image inference)")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        metavar='KEY=VALUE', help='override config settings, as in tools/train.py')
    add_unsafe_load_argument(parser)
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    if args.top_k < 0:
        parser.error(f'--top-k must be >= 0; got {args.top_k}')
    if not 0.0 <= args.opacity <= 1.0:
        parser.error(f'--opacity must be in [0, 1]; got {args.opacity}')
    return args


def infer_with_gates(model, image):
    """``mmseg.apis.inference_model`` with the gates of every block, as numpy arrays of sample 0:
    {block: {'spatial': (H, W), 'channel': (C,), 'output': (C, H, W)}} (keys present if used)."""
    from mmseg.apis import inference_model
    with capture_gates(model) as gates:
        result = inference_model(model, image)
    first = dict(spatial=lambda t: t[0, 0], channel=lambda t: t[0], output=lambda t: t[0])
    return result, {name: {k: first[k](v).float().cpu().numpy() for k, v in rec.items()}
                    for name, rec in gates.items()}


def _block_images(rgb, name, gate, top_k, opacity):
    """{file tag: RGB image} and {npz key: array} for one block."""
    tag, images, arrays = name.replace('.', '-'), {}, {}
    if 'spatial' in gate:
        images[f'{tag}_spatial'] = draw_heatmap(rgb, gate['spatial'], opacity)
        arrays[f'{name}/spatial'] = gate['spatial']
    if 'channel' in gate:
        arrays[f'{name}/channel'] = gate['channel']
        top = np.argsort(-gate['channel'], kind='stable')[:top_k].tolist()
        for rank, c in enumerate(top):
            images[f'{tag}_channel-{rank}-c{c}'] = draw_heatmap(
                rgb, np.abs(gate['output'][c]), opacity)
        images[f'{tag}_channel-gates'] = channel_gate_chart(gate['channel'], top)
    return images, arrays


def visualize(model, image_path: str, out_dir: str, top_k: int = 4, opacity: float = 0.5):
    """Write every PNG described in the module docstring for one image; return their paths."""
    bgr = cv2.imread(image_path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ToolError(f'cannot read image {image_path!r} (expected a file OpenCV can read)')
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    result, gates = infer_with_gates(model, image_path)
    seg = result.pred_sem_seg.data[0].cpu().numpy()
    if seg.shape != rgb.shape[:2]:
        seg = cv2.resize(seg.astype(np.uint8), rgb.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    images = {'pred': draw_segmentation(rgb, seg, getattr(model, 'dataset_meta', None), opacity)}
    arrays = {}
    for name, gate in gates.items():
        block_images, block_arrays = _block_images(rgb, name, gate, top_k, opacity)
        images.update(block_images)
        arrays.update(block_arrays)
    os.makedirs(out_dir, exist_ok=True)
    stem = osp.splitext(osp.basename(image_path))[0]
    written = []
    for tag, img in images.items():
        written.append(osp.join(out_dir, f'{stem}_{tag}.png'))
        cv2.imwrite(written[-1], cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    np.savez_compressed(osp.join(out_dir, f'{stem}_gates.npz'), **arrays)
    return written


def main(argv=None):
    args = parse_args(argv)
    model = load_model(args.config, args.checkpoint, args.device, args.slide,
                       args.cfg_options, args.unsafe_load)
    blocks = find_rga_blocks(model)
    if not blocks:
        raise ToolError(f'{args.config} builds no RGABlock (is it an RGA config?); only the '
                         'prediction would be drawn')
    print(f'RGA blocks: {", ".join(blocks)}')
    for image in args.images:
        try:
            written = visualize(model, image, args.out, args.top_k, args.opacity)
        except ImportError as err:  # matplotlib (the chart) is optional
            raise ToolError(str(err)) from err
        print(f'{image}: wrote {len(written)} images to {args.out}')


if __name__ == '__main__':
    run_main(main)
