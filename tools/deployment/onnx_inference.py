r"""Segment images with an exported ONNX file (tools/deployment/pytorch2onnx.py) in onnxruntime.

Each image goes through the config's test pipeline (its Resize) and ``model.data_preprocessor``
(BGR -> RGB, mean, std), the graph gives the logits, and the label map is resized back to the
image's size and written as ``OUT_DIR/<image name>.png`` (one class index per pixel); with
``--overlay`` also ``OUT_DIR/<image name>_overlay.png``, the classes in the dataset's palette over
the image (mmseg's SegLocalVisualizer).

    python tools/deployment/onnx_inference.py CONFIG MODEL.onnx IMAGE [IMAGE ...] \
        --out-dir DIR [--overlay] [--opacity 0.5] [--threads N] [--cfg-options KEY=VALUE ...]

A file exported without ``--dynamic`` takes one input size: images whose preprocessed size
differs are refused (export with ``--dynamic``, or set the config's Resize to that size).
"""
import argparse
import os
import os.path as osp
import sys
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

from mmseg_rga.tooling.errors import (  # noqa: E402
    ToolError,
    add_debug_argument,
    missing_config_message,
    run_main,
)


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='the config the model was exported from')
    parser.add_argument('onnx', help='the exported .onnx file')
    parser.add_argument('images', nargs='+', help='image files')
    parser.add_argument('--out-dir', required=True, help='where the PNGs are written')
    parser.add_argument('--overlay', action='store_true',
                        help='also write the classes in colour over each image')
    parser.add_argument('--opacity', type=float, default=0.5, help='of the overlay colours')
    parser.add_argument('--threads', type=int, help="onnxruntime's intra-op threads")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    if not osp.isfile(args.config):
        raise ToolError(missing_config_message(args.config))
    if not osp.isfile(args.onnx):
        raise ToolError(f'ONNX file not found: {args.onnx!r} (expected what '
                        'tools/deployment/pytorch2onnx.py wrote)')
    missing = [image for image in args.images if not osp.isfile(image)]
    if missing:
        raise ToolError(f'image not found: {missing[0]!r} (expected an image file)')
    if not 0.0 <= args.opacity <= 1.0:
        raise ToolError(f'--opacity must be in [0, 1]; got {args.opacity}')
    if args.threads is not None and args.threads < 1:
        raise ToolError(f'--threads must be a positive int; got {args.threads}')
    return args


def dataset_meta(cfg, num_classes):
    """Classes and palette of the config's test dataset, else mmseg's for that class count."""
    from mmseg.registry import DATASETS

    from mmseg_rga.tooling.inference import classes_and_palette
    kind = (cfg.get('test_dataloader') or {}).get('dataset', {}).get('type')
    cls = DATASETS.get(kind) if isinstance(kind, str) else None
    meta = dict(getattr(cls, 'METAINFO', None) or {})
    if len(meta.get('classes', ())) == num_classes and meta.get('palette'):
        return meta
    return classes_and_palette(num_classes)


def check_input_size(segmenter, inputs, image):
    expected = segmenter.session.get_inputs()[0].shape[2:]
    got = tuple(inputs.shape[2:])
    if any(isinstance(e, int) and e != g for e, g in zip(expected, got)):
        raise ToolError(f'{osp.basename(image)} preprocesses to {got[0]}x{got[1]} but the ONNX '
                        f'file takes only {expected[0]}x{expected[1]}: export it with '
                        '--dynamic, or resize the images to that size')


def segment(args, segmenter, cfg):
    import mmcv
    import numpy as np

    from mmseg_rga.visualization import draw_segmentation
    os.makedirs(args.out_dir, exist_ok=True)
    meta = None
    for image in args.images:
        inputs, img_meta = segmenter.preprocess(image)
        check_input_size(segmenter, inputs, image)
        from mmseg_rga.tooling.onnx_runtime import label_map
        logits = segmenter.logits(inputs)
        labels = label_map(logits, img_meta, segmenter.align_corners, segmenter.threshold)
        stem = osp.splitext(osp.basename(image))[0]
        path = osp.join(args.out_dir, f'{stem}.png')
        mmcv.imwrite(labels.astype(np.uint8 if labels.max() < 256 else np.uint16), path)
        print(f'{image} -> {path} ({labels.shape[0]}x{labels.shape[1]}, '
              f'{len(np.unique(labels))} classes)')
        if args.overlay:
            meta = meta or dataset_meta(cfg, max(2, logits.shape[1]))
            rgb = mmcv.imread(image, channel_order='rgb')
            drawn = draw_segmentation(rgb, labels, meta, args.opacity)
            mmcv.imwrite(mmcv.rgb2bgr(drawn), osp.join(args.out_dir, f'{stem}_overlay.png'))


def main(argv=None):
    from mmengine.config import Config

    args = parse_args(argv)
    try:
        import onnxruntime  # noqa: F401
    except ImportError as err:
        raise ToolError('onnx_inference.py needs onnxruntime: pip install onnxruntime') from err
    from mmseg_rga.tooling.onnx_runtime import OnnxSegmenter
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    try:
        segmenter = OnnxSegmenter(cfg, args.onnx, args.threads)
    except Exception as err:  # noqa: B902  (onnxruntime raises its own types for a bad file)
        if 'onnxruntime' not in type(err).__module__:
            raise
        raise ToolError(f'onnxruntime cannot load {args.onnx}: {" ".join(str(err).split())}'
                        ) from None
    segment(args, segmenter, cfg)


if __name__ == '__main__':
    os.environ.setdefault('PYTHONWARNINGS', 'ignore')
    run_main(main)
