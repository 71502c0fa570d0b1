"""Gradient-driven Softmax Equalization Loss ("The Equalization Losses", arXiv 2210.05566, for
long-tailed image classification and semantic segmentation), with the numerics of the official
code (ModelTC/United-Perception, ``up/tasks/cls/models/losses/cls_loss.py``, ``softmax_eql``):

    z'_ij = z_ij + tau (1 - y_ij) log(I_j / I_y_i),   L = (1/N) sum_i CE(z'_i, y_i)

where I is an indicator accumulated from the gradients of the loss with respect to the logits
(what autograd computes), clamped at eps = 1e-4:

    indicator "pos":          I_j = pos_j    (summed |d L / d z_ij| over the rows of class j)
    indicator "neg":          I_j = neg_j    (... over the rows of the other classes)
    indicator "pos_and_neg":  I_j = g_j + neg_j, g_j = pos_j / (neg_j + 1e-10) (the official code's
                              expression, kept as is)

Statistics are summed across processes and updated after each forward (the official code collects
them with a backward hook), in the fp32 buffers ``pos_grad``, ``neg_grad``, ``pos_neg``. At the
start I = 0 everywhere: the loss is the plain softmax cross-entropy. The gradient comes in closed
form: (softmax(z') - y) / N.
"""

from typing import Optional

import torch
import torch.nn.functional as F

from .base import RATIO_EPS, ClassificationLoss, autocast_disabled, compute_dtype
from .context import LossContext
from .registry import register_loss

INDICATORS = ("pos", "neg", "pos_and_neg")


def logit_shift(indicator: torch.Tensor, gt_classes: torch.Tensor, tau: float, eps: float):
    """(N, C): tau log(I_j / I_y) off target, 0 on target (I clamped at eps)."""
    i = indicator.clamp(min=eps)
    shift = tau * (torch.log(i)[None, :] - torch.log(i)[gt_classes][:, None])
    return shift.scatter(1, gt_classes[:, None], 0.0)


@register_loss("softmax_eql")
class GradientSoftmaxEQL(ClassificationLoss):
    """Softmax-EQL as a stateful module (see the module docstring). Logits (N, C), gt_classes in
    [0, C); rows to ignore (segmentation's ignore label) are left out by the caller."""

    sigmoid = False
    background = False  # classes [0, C), no background

    def __init__(
        self, num_classes: int, indicator: str = "pos", tau: float = 1.0, eps: float = 1e-4
    ):
        super().__init__(num_classes)
        if indicator not in INDICATORS:
            raise ValueError(f"indicator must be one of {INDICATORS}, got {indicator!r}")
        self.indicator, self.tau, self.eps = indicator, float(tau), float(eps)
        self.register_gradient_statistics(initial_ratio=1.0)

    def current_indicator(self) -> torch.Tensor:
        if self.indicator == "pos":
            return self.pos_grad
        if self.indicator == "neg":
            return self.neg_grad
        return self.pos_neg + self.neg_grad

    def forward(self, logits, gt_classes, context: Optional[LossContext] = None):
        self.check_inputs(logits, gt_classes)
        n = logits.shape[0]
        normalizer = (context or LossContext()).normalizer_for(n)
        if n == 0:
            self.update_statistics(*([torch.zeros(self.num_classes, device=logits.device)] * 2), 0)
            return logits.sum() * 0.0
        z = logits.to(compute_dtype(logits))
        with autocast_disabled(z.device):
            shift = logit_shift(
                self.current_indicator().to(z.dtype), gt_classes, self.tau, self.eps
            )
            adjusted = z + shift
            loss = F.cross_entropy(adjusted, gt_classes, reduction="sum") / normalizer
            with torch.no_grad():  # d L / d z = (softmax(z') - y) / normalizer
                grad = F.softmax(adjusted.detach(), dim=1)
                rows = torch.arange(n, device=z.device)
                on_target = 1.0 - grad[rows, gt_classes]
                grad[rows, gt_classes] = 0
                neg = grad.sum(0) / normalizer
                pos = torch.zeros_like(neg).index_add_(0, gt_classes, on_target) / normalizer
        self.update_statistics(pos, neg, n)
        return loss

    @torch.no_grad()
    def update_statistics(self, pos: torch.Tensor, neg: torch.Tensor, num_rows: int) -> None:
        if self.accumulate_gradient_statistics(pos, neg, num_rows):
            self.pos_neg = self.pos_grad / (self.neg_grad + RATIO_EPS)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return F.softmax(logits.float(), dim=1)

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, indicator={self.indicator!r}, tau={self.tau}, "
            f"eps={self.eps}"
        )
