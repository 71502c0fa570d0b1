"""The sigmoid cross-entropy baseline, sum_ij w_ij BCE(z_ij, y_ij) / N over the C class logits
(detectron2's ``USE_SIGMOID_CE``), and the weighted form the sigmoid losses share (EQL,
eql/losses/eql.py; the federated loss). Pure torch. The gradient is computed in closed form,
(sigmoid(z) - y) * w / N.
"""

from typing import Optional

import torch
import torch.nn.functional as F

from .base import ClassificationLoss, autocast_disabled, compute_dtype
from .context import LossContext
from .federated import FederatedSampler
from .registry import register_loss


class _WeightedSigmoidCE(torch.autograd.Function):
    """sum_ij w_ij BCE(z_ij, y_ij) / N with y one-hot from gt_classes (C = background: all zero),
    requiring w_ij = 1 where y_ij = 1. Backward: (sigmoid(z) - y) * w / N."""

    @staticmethod
    def forward(ctx, logits, gt_classes, weights):
        n, c = logits.shape
        fg_rows = (gt_classes < c).nonzero().squeeze(1)
        fg_cols = gt_classes[fg_rows]
        # BCE(z, y) = softplus(z) - z * y, and w = 1 where y = 1
        loss = (F.softplus(logits) * weights).sum() - logits[fg_rows, fg_cols].sum()
        ctx.save_for_backward(logits, weights, fg_rows, fg_cols)
        return loss / n

    @staticmethod
    def backward(ctx, grad_output):
        logits, weights, fg_rows, fg_cols = ctx.saved_tensors
        grad = torch.sigmoid(logits).mul_(weights)
        grad[fg_rows, fg_cols] -= 1.0
        grad.mul_(grad_output / logits.shape[0])
        return grad, None, None


def weighted_sigmoid_cross_entropy(
    logits: torch.Tensor, gt_classes: torch.Tensor, weights: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """sum_ij w_ij BCE(z_ij, y_ij) / N; logits (N, C), gt_classes (N,) in [0, C], weights (N, C)
    with 1 at each foreground proposal's class (or None: all 1). An empty batch gives a zero that
    still backpropagates."""
    if logits.shape[0] == 0:
        return logits.sum() * 0.0
    z = logits.to(compute_dtype(logits))  # fp32 for half-precision logits (autocast)
    if weights is None:
        weights = torch.ones_like(z)
    with autocast_disabled(z.device):
        return _WeightedSigmoidCE.apply(z, gt_classes, weights.to(z.dtype))


def sigmoid_ce_gradient(
    logits: torch.Tensor, gt_classes: torch.Tensor, weights: Optional[torch.Tensor], normalizer
) -> torch.Tensor:
    """d/dz of sum_ij w_ij BCE(z_ij, y_ij) / normalizer: (sigmoid(z) - y) w / normalizer."""
    n, c = logits.shape
    grad = torch.sigmoid(logits.detach().to(compute_dtype(logits)))
    rows = (gt_classes < c).nonzero().squeeze(1)
    grad[rows, gt_classes[rows]] -= 1.0
    if weights is not None:
        grad.mul_(weights)
    return grad.div_(normalizer)


class WeightedSigmoidLoss(ClassificationLoss):
    """A sum_ij w_ij BCE(z_ij, y_ij) / N loss, optionally federated: with a
    :class:`~eql.losses.federated.FederatedSampler`, only the classes it keeps in a batch count
    (w_ij times that batch's class mask)."""

    def __init__(self, num_classes: int):
        super().__init__(num_classes)
        self.federated: Optional[FederatedSampler] = None

    def use_federated(self, sampler: FederatedSampler) -> "WeightedSigmoidLoss":
        if sampler.num_classes != self.num_classes:
            raise ValueError(
                f"the federated sampler has {sampler.num_classes} classes, the loss "
                f"{self.num_classes}"
            )
        self.federated = sampler
        return self

    def weighted_loss(self, logits, gt_classes, weights: Optional[torch.Tensor]) -> torch.Tensor:
        if self.federated is not None and logits.shape[0] > 0:
            mask = self.federated.mask(gt_classes).to(compute_dtype(logits))[None, :]
            weights = mask.expand_as(logits) if weights is None else weights * mask
        loss = weighted_sigmoid_cross_entropy(logits, gt_classes, weights)
        if self.gradient_record is not None:
            grad = sigmoid_ce_gradient(logits, gt_classes, weights, max(logits.shape[0], 1))
            self.gradient_record.add(grad, gt_classes, self.finite_logits)
        return loss


@register_loss("sigmoid_ce")
class SigmoidCrossEntropy(WeightedSigmoidLoss):
    """The sigmoid cross-entropy baseline: sum_ij BCE(z_ij, y_ij) / N over the C class logits
    (detectron2's ``USE_SIGMOID_CE``; with a federated sampler, its ``USE_FED_LOSS``)."""

    def forward(self, logits, gt_classes, context: Optional[LossContext] = None):
        self.check_inputs(logits, gt_classes)
        return self.weighted_loss(logits, gt_classes, None)
