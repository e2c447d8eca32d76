"""Segment images with an exported file: the config's preprocessing, onnxruntime, a label map.

What PyTorch's whole-image inference does around the network, done around the ONNX graph:

* :class:`OnnxSegmenter` loads each image with the config's test pipeline (its ``Resize``, minus
  ``LoadAnnotations``) and normalizes it with the config's ``model.data_preprocessor``
  (mmseg's ``SegDataPreProcessor``: BGR -> RGB, mean and std), so the graph gets the
  (1, 3, H, W) float32 input of its contract;
* onnxruntime gives the logits (1, num_classes, H, W);
* :func:`label_map` undoes the preprocessing as mmseg's ``postprocess_result`` does: any test
  padding cropped, the logits resized bilinearly to the original image size (the decode head's
  ``align_corners``), argmax (a one-class head: sigmoid above its ``threshold``).
"""
import copy
from typing import Dict, Optional, Tuple

import numpy as np
import torch

from .onnx_export import run, session


def _decode_head_cfg(model_cfg) -> dict:
    head = model_cfg.get('decode_head') or {}
    return head[0] if isinstance(head, (list, tuple)) else head


def test_pipeline_cfg(cfg) -> list:
    """The config's test pipeline (``test_pipeline``, else the test dataloader's) without
    ``LoadAnnotations``: image in, packed inputs out."""
    pipeline = cfg.get('test_pipeline', None)
    if pipeline is None:
        pipeline = cfg.test_dataloader.dataset.pipeline
    return [copy.deepcopy(step) for step in pipeline if step.get('type') != 'LoadAnnotations']


def label_map(logits: torch.Tensor, meta: dict, align_corners: bool,
              threshold: float = 0.3) -> np.ndarray:
    """(1, C, H, W) logits of a preprocessed image -> (h, w) int64 labels at its original size."""
    from mmseg.models.utils import resize

    left, right, top, bottom = meta.get('img_padding_size', meta.get('padding_size', [0] * 4))
    height, width = logits.shape[-2:]
    logits = logits[:, :, top:height - bottom, left:width - right]
    logits = resize(logits, size=tuple(meta['ori_shape'][:2]), mode='bilinear',
                    align_corners=align_corners, warning=False)[0]
    if logits.shape[0] > 1:
        return logits.argmax(dim=0).numpy()
    return (logits.sigmoid()[0] > threshold).long().numpy()


class OnnxSegmenter:
    """An exported segmentor with its config's preprocessing (see the module docstring).

    Args:
        cfg: the model's mmengine ``Config`` (the one it was exported from).
        onnx_file: the exported graph (``input`` -> ``logits``).
        threads: onnxruntime's intra-op threads (default: onnxruntime's).
    """

    def __init__(self, cfg, onnx_file: str, threads: Optional[int] = None):
        from mmcv.transforms import Compose
        from mmengine.registry import init_default_scope
        from mmseg.registry import MODELS

        init_default_scope(cfg.get('default_scope', 'mmseg'))
        self.pipeline = Compose(test_pipeline_cfg(cfg))
        self.preprocessor = MODELS.build(copy.deepcopy(cfg.model.data_preprocessor)).eval()
        head = _decode_head_cfg(cfg.model)
        self.align_corners = bool(head.get('align_corners', False))
        self.threshold = float(head.get('threshold', None) or 0.3)
        self.session = session(onnx_file, threads)

    def preprocess(self, image_path: str) -> Tuple[torch.Tensor, Dict]:
        """(1, 3, H, W) float32 network input and the image meta, as PyTorch's test step."""
        data = self.pipeline(dict(img_path=image_path))
        with torch.no_grad():
            batch = self.preprocessor(dict(inputs=[data['inputs']],
                                           data_samples=[data['data_samples']]), False)
        return batch['inputs'].float(), batch['data_samples'][0].metainfo

    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(run(self.session, inputs.numpy()))

    def __call__(self, image_path: str) -> np.ndarray:
        """The (h, w) label map of one image file, at its original size."""
        inputs, meta = self.preprocess(image_path)
        return label_map(self.logits(inputs), meta, self.align_corners, self.threshold)
