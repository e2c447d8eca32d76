"""Export an RGA config with MMDeploy 1.x and check its ONNX Runtime label map against PyTorch's.

``mmdeploy.apis.torch2onnx`` exports the segmentor with the project's deploy config
(``configs/deploy/segmentation_onnxruntime_dynamic.py``: opset 13, dynamic batch, height and
width, argmax in the graph), ``mmdeploy.apis.inference_model`` runs the file through MMDeploy's
ONNX Runtime wrapper, and the label map is compared pixel by pixel with mmseg's
``inference_model`` in whole-image mode, both without the config's test-time Resize. Without
``--checkpoint`` the model has random weights (saved to the work dir); without ``--image`` a
generated street scene is used; ``--check-size`` runs the same file on generated scenes of other
sizes. Exits 1 when more than ``--max-differ`` of the pixels differ::

    python tools/deployment/mmdeploy_check.py configs/rga/fcn_rga_cityscapes.py \\
        --check-size 97 300 --work-dir work_dirs/mmdeploy

Needs ``mmdeploy==1.3.1`` beside the floor stack (Python 3.10, torch 2.1.2, numpy < 2, mmcv
2.1.0), in a venv of its own: MMDeploy pins protobuf <= 3.20.2, its runtime wheels stop at
Python 3.11 and its CI at torch 2.0.
"""
import argparse
import os
import os.path as osp
import sys
from pathlib import Path

ROOT = next(d for d in Path(__file__).resolve().parents if (d / 'mmseg_rga').is_dir())
sys.path.insert(0, str(ROOT))  # this checkout's mmseg_rga first: no `pip install -e .` needed

from mmseg_rga.tooling.errors import ToolError, add_debug_argument, run_main  # noqa: E402

DEPLOY_CFG = osp.join(ROOT, 'configs', 'deploy', 'segmentation_onnxruntime_dynamic.py')


def parse_args(argv=None):
    from mmseg_rga.tooling.launch import positive_int
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='model config file')
    parser.add_argument('--checkpoint', help='weights (default: random, saved to the work dir)')
    parser.add_argument('--image', help='image file (default: a generated scene)')
    parser.add_argument('--size', type=positive_int, nargs=2, default=(128, 256),
                        metavar=('H', 'W'), help='of the generated scene (default 128 256)')
    parser.add_argument('--check-size', type=positive_int, nargs=2, action='append', default=[],
                        metavar=('H', 'W'), help='also run the same file on a generated scene '
                        'of this size (repeatable)')
    parser.add_argument('--deploy-cfg', default=DEPLOY_CFG, help='MMDeploy deploy config')
    parser.add_argument('--work-dir', default='work_dirs/mmdeploy')
    parser.add_argument('--max-differ', type=float, default=1e-3,
                        help='largest fraction of pixels allowed to differ (default 0.001)')
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    for what, path in (('config', args.config), ('deploy config', args.deploy_cfg),
                       ('checkpoint', args.checkpoint), ('image', args.image)):
        if path is not None and not osp.isfile(path):
            raise ToolError(f'{what} not found: {path!r}')
    return args


def model_config(path):
    """The config for both paths: whole-image test mode, mmseg's registry scope (MMDeploy 1.3.1
    with mmseg 1.2.2 looks ``EncoderDecoder`` up in mmengine's registry otherwise)."""
    from mmengine.config import Config
    cfg = Config.fromfile(path)
    cfg.default_scope = 'mmseg'
    # No test-time Resize, so that the image is the network's input: MMDeploy (with_argmax)
    # resizes the label map to the image (nearest), mmseg the logits (bilinear), which differ
    # wherever the two sizes do.
    cfg.test_pipeline = [t for t in cfg.test_pipeline if t['type'] != 'Resize']
    cfg.model.test_cfg = dict(mode='whole')
    cfg.model.pop('pretrained', None)
    cfg.model.backbone.pop('init_cfg', None)
    return cfg


def pytorch_model(cfg, checkpoint, work_dir):
    """mmseg's init_model (BN for SyncBN); random weights saved when there is no checkpoint."""
    import torch
    from mmengine.model import revert_sync_batchnorm
    from mmseg.apis import init_model
    if checkpoint is None:
        torch.manual_seed(0)
        model = revert_sync_batchnorm(init_model(cfg, None, 'cpu'))
        checkpoint = osp.join(work_dir, 'random_weights.pth')
        torch.save(dict(state_dict=model.state_dict(), meta=dict()), checkpoint)
    return revert_sync_batchnorm(init_model(cfg, checkpoint, 'cpu')).eval(), checkpoint


def scene(work_dir, size):
    """A generated street scene of ``size`` (H, W) under ``work_dir``."""
    from mmseg_rga.datasets.synthetic import generate_synthetic_cityscapes
    root = osp.join(work_dir, f'scene_{size[0]}x{size[1]}')
    generate_synthetic_cityscapes(root, num_train=1, num_val=1, image_size=tuple(size))
    return str(next(Path(root, 'leftImg8bit', 'val').rglob('*.png')))


def compare(cfg, deploy_cfg, onnx_file, model, image, max_differ):
    """MMDeploy's label map of ``image`` against mmseg's: prints and checks the differing
    fraction."""
    import torch
    from mmdeploy.apis import inference_model
    from mmseg.apis import inference_model as mmseg_inference
    (result,) = inference_model(cfg, deploy_cfg, [onnx_file], image, 'cpu')
    theirs = result.pred_sem_seg.data.squeeze()
    with torch.no_grad():
        ours = mmseg_inference(model, image).pred_sem_seg.data.squeeze()
    if theirs.shape != ours.shape:
        raise ToolError(f'MMDeploy label map {tuple(theirs.shape)} vs PyTorch {tuple(ours.shape)}')
    differ = float((theirs.to(ours.dtype) != ours).float().mean())
    print(f'MMDeploy onnxruntime vs PyTorch label map ({ours.shape[0]}x{ours.shape[1]}): '
          f'{differ:.4%} of the pixels differ')
    if differ > max_differ:
        raise ToolError(f'{differ:.4%} of the pixels differ (> {max_differ:.4%})')


def main(argv=None):
    args = parse_args(argv)
    try:
        from mmdeploy.apis import torch2onnx
    except ImportError as err:
        raise ToolError(f'mmdeploy_check.py needs mmdeploy 1.3.1 (pip install mmdeploy==1.3.1): '
                        f'{err}') from None
    from mmengine.config import Config

    os.makedirs(args.work_dir, exist_ok=True)
    cfg = model_config(args.config)
    model, checkpoint = pytorch_model(cfg, args.checkpoint, args.work_dir)
    image = args.image or scene(args.work_dir, args.size)
    deploy_cfg = Config.fromfile(args.deploy_cfg)
    torch2onnx(image, args.work_dir, 'end2end.onnx', deploy_cfg, cfg, checkpoint, 'cpu')
    onnx_file = osp.join(args.work_dir, 'end2end.onnx')
    print(f'mmdeploy.apis.torch2onnx wrote {onnx_file}')
    for each in [image] + [scene(args.work_dir, size) for size in args.check_size]:
        compare(cfg, deploy_cfg, onnx_file, model, each, args.max_differ)

if __name__ == '__main__':
    os.environ.setdefault('PYTHONWARNINGS', 'ignore')
    run_main(main)
