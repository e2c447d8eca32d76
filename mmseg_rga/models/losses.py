"""Class-weighted cross-entropy with PyTorch's (and OCNet's) weighted mean.

mmseg 1.2.2's ``CrossEntropyLoss(class_weight=...)`` cannot be used on Cityscapes: to compute its
average factor it indexes ``class_weight`` with the raw labels, so any ignore label (255) raises
``IndexError`` (open-mmlab/mmsegmentation#3492, #3734). OCNet (openseg-group/OCNet.pytorch,
``utils/criterion.py``) trains with ``torch.nn.CrossEntropyLoss(weight=w, ignore_index=255)``:

    loss = sum_i w[y_i] * CE_i / sum_i w[y_i]      over the pixels i with y_i != ignore_index

which is what :class:`ClassWeightedCrossEntropyLoss` computes (``F.cross_entropy`` with
``reduction='mean'``).
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from ..checks import InputError


@MODELS.register_module()
class ClassWeightedCrossEntropyLoss(nn.Module):
    """Softmax cross-entropy with per-class weights, averaged by the weights of the valid pixels.

    Args:
        class_weight: one weight per class (e.g. OCNet's 19 Cityscapes weights).
        loss_weight: multiplier of the loss. Default: 1.0.
        loss_name: the key in the loss dict; must start with ``loss_``. Default: 'loss_ce'.

    Shapes: cls_score (B, K, H, W) logits, label (B, H, W) ints in [0, K) or ``ignore_index``.
    """

    def __init__(self, class_weight: Sequence[float], loss_weight: float = 1.0,
                 loss_name: str = 'loss_ce') -> None:
        super().__init__()
        if (not isinstance(class_weight, (list, tuple)) or not class_weight
                or not all(isinstance(w, (int, float)) and w >= 0 for w in class_weight)):
            raise InputError('class_weight must be a non-empty list of non-negative numbers (one '
                             f'per class); got {class_weight!r}')
        if not loss_name.startswith('loss_'):
            raise InputError(f"loss_name must start with 'loss_' (mmengine sums only those); got "
                             f'{loss_name!r}')
        self.register_buffer('class_weight', torch.tensor(class_weight, dtype=torch.float32),
                             persistent=False)
        self.loss_weight = float(loss_weight)
        self._loss_name = loss_name

    def forward(self, cls_score: Tensor, label: Tensor, weight: Optional[Tensor] = None,
                ignore_index: int = 255, **kwargs) -> Tensor:
        if cls_score.shape[1] != self.class_weight.numel():
            raise InputError(f'ClassWeightedCrossEntropyLoss has {self.class_weight.numel()} class '
                             f'weights but the logits have {cls_score.shape[1]} classes')
        if weight is not None:
            raise InputError('ClassWeightedCrossEntropyLoss does not take per-pixel weights '
                             '(a pixel sampler); use mmseg\'s CrossEntropyLoss for that')
        class_weight = self.class_weight.to(cls_score.dtype)
        return self.loss_weight * F.cross_entropy(cls_score, label, weight=class_weight,
                                                  ignore_index=ignore_index, reduction='mean')

    @property
    def loss_name(self) -> str:
        return self._loss_name
