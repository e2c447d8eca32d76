"""Tiny segmentors with random weights written as a config and a checkpoint, for the ONNX tests
(test_pytorch2onnx.py, test_onnx_inference.py)."""
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
#: RGA-FCN on a ResNetV1c-18 at 4 base channels, 5x5 nodes
TINY_CONFIG = f"""
_base_ = [{str(REPO / 'configs' / 'rga' / 'fcn_rga_cityscapes.py')!r}]
model = dict(
    pretrained=None,
    backbone=dict(depth=18, stem_channels=8, base_channels=4, init_cfg=None),
    decode_head=dict(in_channels=32, channels=8, num_convs=1,
                     rga_cfg=dict(pooled_size=(5, 5), ratio_channel=2, ratio_spatial=5,
                                  ratio_logit=2)),
    auxiliary_head=None)
"""
#: the same with mmseg's PSP head (adaptive pooling to 1, 2, 3 and 6 bins)
TINY_PSP_CONFIG = """
_base_ = ['./tiny.py']
model = dict(decode_head=dict(
    _delete_=True, type='RGAPSPHead', in_channels=32, channels=8, pool_scales=(1, 2, 3, 6),
    num_classes=19, align_corners=True, norm_cfg=dict(type='BN', requires_grad=True),
    rga_cfg=dict(pooled_size=(5, 5), ratio_channel=2, ratio_spatial=5, ratio_logit=2)))
"""


def write_tiny_model(root: Path, name: str = 'tiny', text: str = TINY_CONFIG):
    """``root/<name>.py`` and ``root/<name>.pth`` (random weights, non-trivial BN statistics,
    saved like an mmengine checkpoint); returns (config, checkpoint, model in eval mode)."""
    from mmengine.config import Config
    from mmengine.logging import HistoryBuffer
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    config = root / f'{name}.py'
    config.write_text(text)
    cfg = Config.fromfile(str(config))
    init_default_scope('mmseg')
    for part in (cfg.model.backbone, cfg.model.decode_head):
        part.norm_cfg = dict(type='BN', requires_grad=True)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    checkpoint = root / f'{name}.pth'
    # a message hub of HistoryBuffers (numpy inside), which only the tools' allowlisted
    # weights-only loading accepts
    torch.save(dict(state_dict=model.state_dict(), meta=dict(),
                    message_hub=dict(log_scalars=dict(loss=HistoryBuffer([1.0, 0.5], [1, 1])))),
               checkpoint)
    return config, checkpoint, model.eval()


def whole_logits(model, images: torch.Tensor):
    """PyTorch's logits (numpy): encode_decode in whole mode with the batch's own size."""
    shape = images.shape[2:]
    meta = dict(img_shape=shape, ori_shape=shape, pad_shape=shape)
    model.test_cfg = dict(mode='whole')
    with torch.no_grad():
        return model.encode_decode(images, [meta] * len(images)).numpy()
