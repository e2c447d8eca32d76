r"""mIoU of an exported ONNX file in onnxruntime and of its PyTorch model, on the config's test set.

Both run whole-image inference on the same preprocessed images (the config's test pipeline and
``model.data_preprocessor``): PyTorch through the model's ``test_step`` with
``test_cfg.mode='whole'``, onnxruntime on the normalized batch, its logits resized back to each
image as mmseg does (tools/deployment/onnx_inference.py's path). Prints both mIoUs (the config's
``test_evaluator``) and how many pixels the two label differently.

    python tools/deployment/compare_onnx.py CONFIG CHECKPOINT MODEL.onnx \
        [--synthetic-data DIR --synthetic-size H W] [--threads N] [--cfg-options KEY=VALUE ...]
"""
import argparse
import os
import os.path as osp
import sys
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

from mmseg_rga.tooling.errors import ToolError, add_debug_argument, run_main  # noqa: E402


def parse_args(argv=None):
    from mmengine.config import DictAction

    from mmseg_rga.tooling.checkpoint import add_unsafe_load_argument
    from mmseg_rga.tooling.launch import positive_int
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='the config the model was exported from')
    parser.add_argument('checkpoint', help='checkpoint file (.pth)')
    parser.add_argument('onnx', help='the exported .onnx file')
    parser.add_argument('--synthetic-data', metavar='DIR', help='evaluate on a generated '
                        'dataset in DIR (written unless there), as tools/test.py does')
    parser.add_argument('--synthetic-size', type=positive_int, nargs=2, default=(256, 512),
                        metavar=('H', 'W'), help='of the --synthetic-data images')
    parser.add_argument('--threads', type=positive_int, help="onnxruntime's intra-op threads")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    add_unsafe_load_argument(parser)
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    for what, path in (('checkpoint', args.checkpoint), ('ONNX file', args.onnx)):
        if not osp.isfile(path):
            raise ToolError(f'{what} not found: {path!r}')
    return args


def load(args):
    """Config (synthetic data and options applied), PyTorch model, ONNX segmenter, loader."""
    from mmengine.runner import Runner

    from mmseg_rga.engine import UnsafeCheckpointError
    from mmseg_rga.tooling.inference import load_model
    from mmseg_rga.tooling.launch import read_config
    from mmseg_rga.tooling.onnx_runtime import OnnxSegmenter
    from mmseg_rga.tooling.synthetic_data import apply_synthetic_data_option

    cfg = read_config(args.config)
    if args.synthetic_data:
        apply_synthetic_data_option(cfg, args.synthetic_data,
                                    image_size=tuple(args.synthetic_size))
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    try:
        model = load_model(cfg, args.checkpoint, 'cpu', unsafe_load=args.unsafe_load)
    except UnsafeCheckpointError as err:
        raise ToolError(str(err)) from None
    cfg.test_dataloader.update(num_workers=0, persistent_workers=False)
    loader = Runner.build_dataloader(cfg.test_dataloader)
    return cfg, model, OnnxSegmenter(cfg, args.onnx, args.threads), loader


def onnx_samples(segmenter, model, data):
    """Copies of the batch's data samples with onnxruntime's label maps as ``pred_sem_seg``
    (the preprocessor and ``test_step`` write into the samples they get)."""
    import copy

    import torch
    from mmengine.structures import PixelData

    from mmseg_rga.tooling.onnx_runtime import label_map
    batch = model.data_preprocessor(copy.deepcopy(data), False)
    samples = []
    for inputs, sample in zip(batch['inputs'], batch['data_samples']):
        logits = segmenter.logits(inputs[None].float())
        labels = label_map(logits, sample.metainfo, segmenter.align_corners, segmenter.threshold)
        sample.pred_sem_seg = PixelData(data=torch.from_numpy(labels)[None])
        samples.append(sample)
    return samples


def compare(args):
    import torch
    from mmengine.evaluator import Evaluator

    cfg, model, segmenter, loader = load(args)
    evaluators = [Evaluator(cfg.test_evaluator) for _ in range(2)]
    for evaluator in evaluators:
        evaluator.dataset_meta = loader.dataset.metainfo
    differ = total = 0
    for data in loader:
        with torch.no_grad():
            ours = model.test_step(data)
        theirs = onnx_samples(segmenter, model, data)
        for a, b in zip(ours, theirs):
            differ += int((a.pred_sem_seg.data != b.pred_sem_seg.data).sum())
            total += a.pred_sem_seg.data.numel()
        evaluators[0].process(ours, data)
        evaluators[1].process(theirs, data)
    results = [evaluator.evaluate(len(loader.dataset)) for evaluator in evaluators]
    miou = [r.get('mIoU') for r in results]
    print(f'{len(loader.dataset)} images: mIoU PyTorch (whole image) {miou[0]:.2f}, '
          f'onnxruntime {miou[1]:.2f}; {differ} of {total} pixels labelled differently')
    return results


def main(argv=None):
    args = parse_args(argv)
    try:
        import onnxruntime  # noqa: F401
    except ImportError as err:
        raise ToolError('compare_onnx.py needs onnxruntime: pip install onnxruntime') from err
    compare(args)


if __name__ == '__main__':
    os.environ.setdefault('PYTHONWARNINGS', 'ignore')
    run_main(main)
