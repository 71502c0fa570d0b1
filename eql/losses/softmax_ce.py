"""The softmax cross-entropy baseline with the interface of eql's losses (classification and
segmentation: C logits, gt_classes in [0, C))."""

from typing import Optional

import torch
import torch.nn.functional as F

from .base import ClassificationLoss
from .context import LossContext
from .registry import register_loss


@register_loss("softmax_ce")
class SoftmaxCrossEntropy(ClassificationLoss):
    """sum_i -log softmax(z_i)[y_i] / normalizer (default N)."""

    sigmoid = False
    background = False  # classes [0, C), no background

    def forward(self, logits, gt_classes, context: Optional[LossContext] = None):
        self.check_inputs(logits, gt_classes)
        normalizer = (context or LossContext()).normalizer_for(logits.shape[0])
        if logits.shape[0] == 0:
            return logits.sum() * 0.0
        loss = F.cross_entropy(logits.float(), gt_classes, reduction="sum")
        return loss / normalizer

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return F.softmax(logits.float(), dim=1)
