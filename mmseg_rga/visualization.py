"""Look at RGA's gates: capture them with forward hooks, draw them with mmengine/mmseg visualizers.

:func:`capture_gates` hooks every :class:`~mmseg_rga.models.rga.RGABlock` of a model (its input
size, ``spatial``, ``channel`` and its output) for the duration of a ``with`` block; the blocks
themselves keep no state. Drawing uses mmengine's ``Visualizer.draw_featmap`` (heat maps) and
mmseg's ``SegLocalVisualizer`` (predictions in the dataset's palette); only the channel-gate bar
chart needs matplotlib directly.
"""
import contextlib
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .models.rga import RGABlock

#: Size (height, width) in pixels of the channel-gate chart, whatever the image size.
CHART_SIZE = (360, 640)


def find_rga_blocks(model: nn.Module) -> Dict[str, RGABlock]:
    """{module name: RGABlock} for every RGA block in the model, in module order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, RGABlock)}


def _hook_block(block: RGABlock, record: Dict[str, Tensor]) -> List:
    """Register the hooks that fill ``record`` on every forward of ``block``."""
    size = {}

    def on_input(module, args):
        record.clear()
        size['hw'] = tuple(args[0].shape[-2:])

    def on_spatial(module, args, gate):  # (B, 1, h, w) at the pooled size -> input size
        record['spatial'] = block.pool.unpool(gate.detach(), size['hw'])

    def on_channel(module, args, gate):  # (B, C, 1, 1)
        record['channel'] = gate.detach().flatten(1)

    def on_output(module, args, out):
        record['output'] = out.detach()

    handles = [block.register_forward_pre_hook(on_input), block.register_forward_hook(on_output)]
    if block.spatial is not None:
        handles.append(block.spatial.register_forward_hook(on_spatial))
    if block.channel is not None:
        handles.append(block.channel.register_forward_hook(on_channel))
    return handles


@contextlib.contextmanager
def capture_gates(model: nn.Module) -> Iterator[Dict[str, Dict[str, Tensor]]]:
    """Record the gates of every RGABlock in ``model`` while the context is open.

    Yields ``{block name: record}``; after a forward each record holds (detached)
    ``'spatial'`` (B, 1, H, W), the spatial gate as applied at the block's input size (absent
    for order 'C'), ``'channel'`` (B, C) (absent for order 'S') and ``'output'`` (B, C, H, W).
    Each forward replaces the previous one (a sliding-window inference leaves the last window's).

    Example:
        >>> with capture_gates(model) as gates:
        ...     model(x)
        >>> gates['decode_head.rga']['spatial'].shape
    """
    gates: Dict[str, Dict[str, Tensor]] = {}
    handles = []
    try:
        for name, block in find_rga_blocks(model).items():
            gates[name] = {}
            handles += _hook_block(block, gates[name])
        yield gates
    finally:
        for handle in handles:
            handle.remove()


def draw_heatmap(image_rgb: np.ndarray, heat, opacity: float = 0.5) -> np.ndarray:
    """A min-max scaled JET heat map of ``heat`` ((h, w), resized bilinearly) over the image."""
    from mmengine.visualization import Visualizer
    heat = torch.as_tensor(np.asarray(heat, np.float32))[None, None]
    heat = F.interpolate(heat, size=image_rgb.shape[:2], mode='bilinear', align_corners=False)
    return Visualizer.draw_featmap(heat[0], image_rgb, channel_reduction='squeeze_mean',
                                   alpha=opacity)


def draw_segmentation(image_rgb: np.ndarray, seg: np.ndarray, dataset_meta: Optional[dict],
                      opacity: float = 0.5) -> np.ndarray:
    """Class colours of a (H, W) label map over the image, with ``SegLocalVisualizer``.

    The palette is ``dataset_meta['palette']`` (a model's ``dataset_meta`` from its checkpoint);
    without one mmseg picks random colours.
    """
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    from mmseg.visualization import SegLocalVisualizer
    vis = SegLocalVisualizer.get_instance('mmseg_rga.visualization')
    meta = dataset_meta or {}
    vis.set_dataset_meta(classes=meta.get('classes'), palette=meta.get('palette'))
    sample = SegDataSample(pred_sem_seg=PixelData(data=torch.as_tensor(
        np.asarray(seg, np.int64))[None]))
    vis.alpha = opacity
    vis.add_datasample('seg', image_rgb, sample, draw_gt=False, draw_pred=True,
                       with_labels=False)
    return vis.get_image()


def channel_gate_chart(gate: np.ndarray, top: Sequence[int]) -> np.ndarray:
    """Bar chart (RGB uint8 of :data:`CHART_SIZE`) of the sorted channel gates, top-k in red."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError('the channel-gate chart needs matplotlib: pip install matplotlib '
                          f'({err})') from err
    h, w = CHART_SIZE
    fig = plt.figure(figsize=(w / 100, h / 100), dpi=100)
    ax = fig.add_axes([0.1, 0.15, 0.86, 0.74])
    order = np.argsort(-gate, kind='stable')
    ax.bar(np.arange(len(gate)), gate[order], width=1.0,
           color=['tab:red' if c in top else 'tab:blue' for c in order])
    ax.set_xlim(-0.5, len(gate) - 0.5)
    lo, hi = float(gate.min()), float(gate.max())
    pad = max(0.01, 0.1 * (hi - lo))  # zoom in: trained gates often differ by a few percent
    ax.set_ylim(max(0.0, lo - pad), min(1.0, hi + pad))
    ax.set_xlabel('channel (sorted by gate)')
    ax.set_ylabel('a_c')
    ax.set_title(f'channel gates in [{lo:.3f}, {hi:.3f}]; top-{len(top)}: {list(map(int, top))}',
                 fontsize=9)
    fig.canvas.draw()
    chart = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return chart
