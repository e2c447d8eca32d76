"""Visualize the gates of every RGA block of a trained model on some images.

    python tools/visualize_attention.py CONFIG CHECKPOINT IMAGE [IMAGE ...] --out DIR \
        [--device cpu] [--top-k 4] [--opacity 0.5] [--slide] [--cfg-options k=v ...]
        [--unsafe-load]

For each image and each :class:`~mmseg_rga.models.rga.RGABlock` in the model (a neck's
``neck.rga_blocks.<i>`` or a head's ``decode_head.rga``; ``<block>`` below is its module name with
dots as dashes) it writes, all at the image's size:

* ``<image>_<block>_spatial.png``: the spatial gate a_s (upsampled, min-max scaled per image)
  as a heat map over the image, like Fig. 3b of the paper;
* ``<image>_<block>_channel-<rank>-c<index>.png``: for the top-k channel gates a_c, the block's
  output map of that channel as a heat map over the image;
* ``<image>_<block>_channel-gates.png``: every channel gate, sorted, as a bar chart (top-k red);

plus ``<image>_pred.png``, the predicted segmentation over the image, and
``<image>_gates.npz`` with the raw gates (``<block>/spatial`` (H, W) at the feature size,
``<block>/channel`` (C,)).

Inference runs in ``whole`` mode by default so that each block sees the whole image once
(a sliding window would leave only the last window's gates); ``--slide`` keeps the config's mode.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

from mmseg_rga.engine import UnsafeCheckpointError, checkpoint_loading  # noqa: E402
from mmseg_rga.utils.checkpoint import add_unsafe_load_argument  # noqa: E402


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
    args = parser.parse_args(argv)
    if args.top_k < 0:
        parser.error(f'--top-k must be >= 0; got {args.top_k}')
    if not 0.0 <= args.opacity <= 1.0:
        parser.error(f'--opacity must be in [0, 1]; got {args.opacity}')
    return args


# ----------------------------------------------------------------------------- drawing helpers
def normalize(heat: np.ndarray) -> np.ndarray:
    """Min-max scale to [0, 1] (a constant map becomes 0.5)."""
    heat = np.asarray(heat, np.float32)
    lo, hi = float(heat.min()), float(heat.max())
    if hi - lo < 1e-12:
        return np.full_like(heat, 0.5)
    return (heat - lo) / (hi - lo)


def overlay_heatmap(image_rgb: np.ndarray, heat: np.ndarray, opacity: float = 0.5,
                    scale: bool = True) -> np.ndarray:
    """A JET heat map of ``heat`` (any size, resized bilinearly) over an RGB uint8 image."""
    h, w = image_rgb.shape[:2]
    heat = np.asarray(heat, np.float32)
    if heat.shape != (h, w):
        heat = cv2.resize(heat, (w, h), interpolation=cv2.INTER_LINEAR)
    heat = normalize(heat) if scale else np.clip(heat, 0, 1)
    colored = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)
    colored = cv2.cvtColor(colored, cv2.COLOR_BGR2RGB)
    return (image_rgb.astype(np.float32) * (1 - opacity) + colored * opacity).astype(np.uint8)


def overlay_segmentation(image_rgb: np.ndarray, seg: np.ndarray, palette, opacity: float = 0.5,
                         ignore_index: int = 255) -> np.ndarray:
    """Class colours of a (H, W) label map over an RGB image (ignore / unknown ids stay black)."""
    lut = np.zeros((256, 3), np.uint8)
    pal = np.asarray(palette, np.uint8)[:255]
    lut[:len(pal)] = pal
    colored = lut[np.asarray(seg, np.int64).clip(0, 255)]
    out = image_rgb.astype(np.float32) * (1 - opacity) + colored * opacity
    return out.astype(np.uint8)


def channel_gate_chart(gate: np.ndarray, top: List[int], size: Tuple[int, int]) -> np.ndarray:
    """Bar chart (RGB uint8 of ``size`` = (H, W)) of the sorted channel gates, top-k in red."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    h, w = size
    dpi = 100
    fig = plt.figure(figsize=(w / dpi, h / dpi), dpi=dpi)
    ax = fig.add_axes([0.12, 0.18, 0.84, 0.7])
    order = np.argsort(-gate, kind='stable')
    colors = ['tab:red' if c in top else 'tab:blue' for c in order]
    ax.bar(np.arange(len(gate)), gate[order], width=1.0, color=colors)
    ax.set_xlim(-0.5, len(gate) - 0.5)
    lo, hi = float(gate.min()), float(gate.max())
    pad = max(0.01, 0.1 * (hi - lo))  # zoom in: trained gates often differ by a few percent
    ax.set_ylim(max(0.0, lo - pad), min(1.0, hi + pad))
    ax.set_xlabel('channel (sorted by gate)', fontsize=7)
    ax.set_ylabel('a_c', fontsize=7)
    ax.tick_params(labelsize=6)
    ax.set_title(f'channel gates in [{lo:.3f}, {hi:.3f}]; top-{len(top)}: {list(map(int, top))}',
                 fontsize=7)
    fig.canvas.draw()
    chart = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    if chart.shape[:2] != (h, w):  # rounding of odd figure sizes
        chart = cv2.resize(chart, (w, h), interpolation=cv2.INTER_AREA)
    return chart


# ----------------------------------------------------------------------------- model helpers
def find_rga_blocks(model: torch.nn.Module) -> Dict[str, torch.nn.Module]:
    """{module name: RGABlock} for every RGA block in the model, in module order."""
    from mmseg_rga.models.rga import RGABlock
    return {name: m for name, m in model.named_modules() if isinstance(m, RGABlock)}


def load_model(config: str, checkpoint: Optional[str], device: str = 'cpu', slide: bool = False,
               cfg_options: Optional[dict] = None, unsafe_load: bool = False):
    """``mmseg.apis.init_model`` in whole-image mode, SyncBN reverted to BN off-GPU; the
    checkpoint loads weights-only with mmengine's allowlist unless ``unsafe_load``."""
    from mmengine.config import Config
    from mmseg.apis import init_model
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if not slide:
        cfg.model.test_cfg = dict(mode='whole')
    with checkpoint_loading(unsafe=unsafe_load):
        model = init_model(cfg, checkpoint, device='cpu')
    if not str(device).startswith('cuda'):
        from mmengine.model import revert_sync_batchnorm
        model = revert_sync_batchnorm(model)
    return model.to(device).eval()


def infer_with_gates(model, image):
    """Run ``mmseg.apis.inference_model`` and return (result, {block: gates}).

    gates: ``spatial`` (h, w) float32 at the block's feature size or None, ``channel`` (C,) or
    None, ``output`` (C, h, w) the block's output (for the top-channel maps).
    """
    from mmseg.apis import inference_model
    blocks = find_rga_blocks(model)
    outputs: Dict[str, torch.Tensor] = {}
    handles = [m.register_forward_hook(
        lambda mod, inp, out, name=name: outputs.__setitem__(name, out.detach()))
        for name, m in blocks.items()]
    try:
        for m in blocks.values():
            m.last_spatial_gate = m.last_channel_gate = None
        result = inference_model(model, image)
    finally:
        for hd in handles:
            hd.remove()
    gates = {}
    for name, m in blocks.items():
        spatial = m.last_spatial_gate
        channel = m.last_channel_gate
        gates[name] = dict(
            spatial=None if spatial is None else spatial[0, 0].float().cpu().numpy(),
            channel=None if channel is None else channel[0].float().cpu().numpy(),
            output=outputs[name][0].float().cpu().numpy() if name in outputs else None)
    return result, gates


def visualize(model, image_path: str, out_dir: str, top_k: int = 4,
              opacity: float = 0.5) -> List[str]:
    """Write every PNG described in the module docstring for one image; return their paths."""
    bgr = cv2.imread(image_path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f'cannot read image {image_path!r}')
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    result, gates = infer_with_gates(model, image_path)
    os.makedirs(out_dir, exist_ok=True)
    stem = osp.splitext(osp.basename(image_path))[0]
    written = []

    def save(name: str, img_rgb: np.ndarray) -> None:
        path = osp.join(out_dir, f'{stem}_{name}.png')
        cv2.imwrite(path, cv2.cvtColor(img_rgb, cv2.COLOR_RGB2BGR))
        written.append(path)

    seg = result.pred_sem_seg.data[0].cpu().numpy()
    if seg.shape != (h, w):
        seg = cv2.resize(seg.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    palette = model.dataset_meta.get('palette') if getattr(model, 'dataset_meta', None) else None
    if palette is None:
        palette = np.random.default_rng(0).integers(0, 255, (256, 3))
    save('pred', overlay_segmentation(rgb, seg, palette, opacity))
    arrays = {}
    for name, g in gates.items():
        tag = name.replace('.', '-')
        if g['spatial'] is not None:
            save(f'{tag}_spatial', overlay_heatmap(rgb, g['spatial'], opacity))
            arrays[f'{name}/spatial'] = g['spatial']
        if g['channel'] is not None:
            arrays[f'{name}/channel'] = g['channel']
            top = np.argsort(-g['channel'], kind='stable')[:top_k].tolist()
            for rank, c in enumerate(top):
                if g['output'] is not None:
                    save(f'{tag}_channel-{rank}-c{c}', overlay_heatmap(rgb, np.abs(g['output'][c]),
                                                                       opacity))
            save(f'{tag}_channel-gates', channel_gate_chart(g['channel'], top, (h, w)))
    np.savez_compressed(osp.join(out_dir, f'{stem}_gates.npz'), **arrays)
    return written


def main(argv=None):
    args = parse_args(argv)
    try:
        model = load_model(args.config, args.checkpoint, args.device, args.slide,
                           args.cfg_options, args.unsafe_load)
    except UnsafeCheckpointError as err:
        raise SystemExit(f'error: {err}')
    blocks = find_rga_blocks(model)
    if not blocks:
        raise SystemExit(f'{args.config} builds no RGABlock (is it an RGA config?); only the '
                         'prediction would be drawn')
    print(f'RGA blocks: {", ".join(blocks)}')
    for image in args.images:
        written = visualize(model, image, args.out, args.top_k, args.opacity)
        print(f'{image}: wrote {len(written)} images to {args.out}')


if __name__ == '__main__':
    main()
