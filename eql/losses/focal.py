"""Sigmoid focal loss with a focusing factor and a weight per class, gradient in closed form.

For row i, class j (C class logits; gt C = background, all targets 0), p = sigmoid(z):

    l_ij = -alpha_t  w_j  (1 - p_t)^gamma_j  log(p_t)
    p_t = p if y_ij = 1 else 1 - p,   alpha_t = alpha if y_ij = 1 else 1 - alpha  (alpha < 0: 1)

    d l / d z = alpha_t w_j (1 - p)^gamma_j (-(gamma_j p softplus(-z) + 1 - p))   (y = 1)
              = alpha_t w_j p^gamma_j (gamma_j (1 - p) softplus(z) + p)            (y = 0)

Summed and divided by a normaliser. gamma_j = gamma and w_j = 1 is Lin et al.'s focal loss
(detectron2's ``sigmoid_focal_loss``); Equalized Focal Loss (eql/losses/efl.py) sets them per
class. Every row is computed as a negative in one dense pass, then the (at most N) positive
entries are replaced; the powers are exp(-gamma softplus(.)), stable in fp32 for any logit.
"""

from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from .base import ClassificationLoss, autocast_disabled, compute_dtype
from .context import LossContext
from .registry import register_loss


def _alpha_pair(alpha: float) -> Tuple[float, float]:
    """(weight of positives, weight of negatives)."""
    return (alpha, 1.0 - alpha) if alpha >= 0 else (1.0, 1.0)


class _FocalFunction(torch.autograd.Function):
    """Returns (loss, pos, neg): the normalised loss, and per class the summed |d loss / d z| over
    the rows of that class (pos) and over the other rows (neg), not differentiable."""

    @staticmethod
    def forward(ctx, logits, gt_classes, gamma, weight, alpha, normalizer):
        n, c = logits.shape
        a_pos, a_neg = _alpha_pair(alpha)
        fg = (gt_classes < c).nonzero().squeeze(1)
        cols = gt_classes[fg]

        # every entry as a negative: p^gamma softplus(z), with p^gamma = exp(-gamma softplus(-z))
        sp = F.softplus(logits)  # -log(1 - p)
        sp_neg = sp - logits  # softplus(-z) = -log p
        p_gamma = torch.exp(sp_neg * -gamma)
        scale = weight * (a_neg / normalizer)
        terms = p_gamma * sp
        terms[fg, cols] = 0  # the positive entries are added below
        loss_neg = terms.sum(0)
        del terms
        p = torch.exp(-sp_neg)
        # grad = scale p^gamma (gamma (1 - p) softplus(z) + p), built in place in sp
        grad = sp.mul_(1.0 - p).mul_(gamma).add_(p).mul_(p_gamma).mul_(scale)
        del p_gamma, sp_neg

        # the positive entries
        z_t = logits[fg, cols]
        g_t, w_t = gamma[cols], weight[cols]
        sp_t, spn_t = F.softplus(z_t), F.softplus(-z_t)  # -log(1 - p), -log p
        p_t = torch.sigmoid(z_t)
        q_gamma = torch.exp(-g_t * sp_t)  # (1 - p)^gamma
        loss = (loss_neg * weight).sum() * a_neg + (q_gamma * spn_t * w_t).sum() * a_pos
        grad_t = -(a_pos / normalizer) * w_t * q_gamma * (g_t * p_t * spn_t + 1.0 - p_t)

        grad[fg, cols] = 0
        neg = grad.sum(0)
        grad[fg, cols] = grad_t
        pos = torch.zeros(c, dtype=grad.dtype, device=grad.device)
        pos.index_add_(0, cols, grad_t.abs())

        ctx.save_for_backward(grad)
        ctx.mark_non_differentiable(pos, neg)
        return loss / normalizer, pos, neg

    @staticmethod
    def backward(ctx, grad_loss, grad_pos, grad_neg):
        (grad,) = ctx.saved_tensors
        return grad * grad_loss, None, None, None, None, None


def focal_loss_with_statistics(
    logits: torch.Tensor,
    gt_classes: torch.Tensor,
    gamma: torch.Tensor,
    weight: torch.Tensor,
    alpha: float,
    normalizer,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, pos, neg): logits (N, C), gt_classes (N,) in [0, C], gamma and weight (C,); pos and
    neg (C,) are the summed |d loss / d logits| of this call on / off target."""
    c = logits.shape[1]
    dtype = compute_dtype(logits)
    if logits.shape[0] == 0:
        zeros = torch.zeros(c, dtype=dtype, device=logits.device)
        return logits.sum() * 0.0, zeros, zeros.clone()
    z = logits.to(dtype)
    with autocast_disabled(z.device):
        return _FocalFunction.apply(
            z, gt_classes, gamma.to(dtype), weight.to(dtype), float(alpha), normalizer
        )


def sigmoid_focal_loss(
    logits: torch.Tensor,
    gt_classes: torch.Tensor,
    gamma: float = 2.0,
    alpha: float = 0.25,
    normalizer=1.0,
) -> torch.Tensor:
    """Lin et al.'s focal loss, summed and divided by ``normalizer``; logits (N, C), gt_classes
    (N,) in [0, C] (C = background)."""
    c = logits.shape[1]
    g = torch.full((c,), float(gamma), device=logits.device)
    return focal_loss_with_statistics(logits, gt_classes, g, torch.ones_like(g), alpha, normalizer)[
        0
    ]


@register_loss("focal")
class SigmoidFocalLoss(ClassificationLoss):
    """The focal loss baseline of RetinaNet (detectron2's numerics): sum / normaliser, the
    normaliser from the context (RetinaNet: its running average of positive anchors), else N."""

    def __init__(self, num_classes: int, gamma: float = 2.0, alpha: float = 0.25):
        super().__init__(num_classes)
        self.gamma, self.alpha = float(gamma), float(alpha)

    def forward(self, logits, gt_classes, context: Optional[LossContext] = None):
        self.check_inputs(logits, gt_classes)
        context = context or LossContext()
        g = torch.full((self.num_classes,), self.gamma, device=logits.device)
        normalizer = context.normalizer_for(logits.shape[0])
        loss, pos, neg = focal_loss_with_statistics(
            logits, gt_classes, g, torch.ones_like(g), self.alpha, normalizer
        )
        if self.gradient_record is not None:
            self.gradient_record.add_sums(pos, neg, self.finite_logits)
        return loss

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, gamma={self.gamma}, alpha={self.alpha}"
