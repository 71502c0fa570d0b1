"""Equalization Loss v2 (Tan et al., "Equalization Loss v2: A New Gradient Balance Approach for
Long-tailed Object Detection", CVPR 2021), with the numerics of the official code
(tztztztztz/eqlv2, ``mmdet/models/losses/eqlv2.py``).

Logits: C class logits and an objectness logit (column C), trained with target 1 on background
rows and weight 1. With y the one-hot target over the C + 1 columns (background rows: column C),

    L = (1/N) sum_i sum_j w_ij BCE(z_ij, y_ij),   w_ij = r_j y_ij + q_j (1 - y_ij)
    q_j = 1 / (1 + exp(-gamma (g_j - mu))),   r_j = 1 + alpha (1 - q_j)    (j < C; q_C = r_C = 1)
    g_j = pos_j / (neg_j + 1e-10)

where pos_j and neg_j accumulate, over every step so far (and every process), the weighted
gradient magnitudes sum_i |sigmoid(z_ij) - y_ij| w_ij over the rows with y_ij = 1 and y_ij = 0.
g starts at 100 (so that q = r = 1 in the first step) and is updated after each forward, from the
weights that step used. At inference the class scores are sigmoid(z_j) (1 - sigmoid(z_C))
(``test_with_obj``) or sigmoid(z_j).

Differences from the official code: statistics are fp32 buffers that survive casts and autocast,
are summed across processes only when there are several (the official code calls all_reduce
unconditionally), and are in ``state_dict`` from the first step. The gradient is computed in closed
form, (sigmoid(z) - y) w / N, from the sigmoids the statistics need anyway.
"""

from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from .base import RATIO_EPS, ClassificationLoss, autocast_disabled, compute_dtype
from .context import LossContext
from .registry import register_loss

INITIAL_RATIO = 100.0


def eqlv2_class_weights(
    ratio: torch.Tensor, gamma: float, mu: float, alpha: float, objectness: bool = True
) -> Tuple[torch.Tensor, torch.Tensor]:
    """(q, r) of length C + 1 (C without ``objectness``) from the gradient ratios g (C,):
    q_j = 1/(1 + exp(-gamma(g_j - mu))), r_j = 1 + alpha (1 - q_j); the objectness column gets
    q = r = 1."""
    q = torch.sigmoid(gamma * (ratio - mu))
    if objectness:
        q = torch.cat([q, q.new_ones(1)])
    return q, 1.0 + alpha * (1.0 - q)


class _EQLv2Function(torch.autograd.Function):
    """sum_ij w_ij BCE(z_ij, y_ij) / normalizer with w_ij = r_j on the target column of row i and
    q_j elsewhere. Also returns the per-class weighted gradient magnitudes (pos, neg) of the C
    class columns (not differentiable)."""

    @staticmethod
    def forward(ctx, logits, targets, q, r, normalizer, num_classes):
        n = logits.shape[0]
        rows = torch.arange(n, device=logits.device)
        z_t = logits[rows, targets]
        p = torch.sigmoid(logits)
        p_t = p[rows, targets]  # a copy
        r_t = r[targets]

        # loss: q_j softplus(z_ij) off target, r_j softplus(-z_ij) on target
        off_target = F.softplus(logits)
        off_target[rows, targets] = 0
        loss = (off_target.sum(0) * q).sum() + (r_t * F.softplus(-z_t)).sum()

        # statistics: |sigmoid(z) - y| w summed per class over off-target / on-target rows
        p[rows, targets] = 0
        neg = p.sum(0)[:num_classes] * q[:num_classes]
        p[rows, targets] = p_t
        fg = targets < num_classes
        pos = torch.zeros(num_classes, dtype=p.dtype, device=p.device)
        pos.index_add_(0, targets[fg], ((1.0 - p_t) * r_t)[fg])

        ctx.save_for_backward(p, targets, q, r_t)
        ctx.normalizer = normalizer
        ctx.mark_non_differentiable(pos, neg)
        return loss / normalizer, pos, neg

    @staticmethod
    def backward(ctx, grad_loss, grad_pos, grad_neg):
        p, targets, q, r_t = ctx.saved_tensors
        rows = torch.arange(p.shape[0], device=p.device)
        grad = p * q
        grad[rows, targets] = (p[rows, targets] - 1.0) * r_t
        grad.mul_(grad_loss / ctx.normalizer)
        return grad, None, None, None, None, None


def eqlv2_loss(
    logits: torch.Tensor,
    gt_classes: torch.Tensor,
    q: torch.Tensor,
    r: torch.Tensor,
    normalizer=None,
    num_classes: Optional[int] = None,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, pos, neg) of one step: logits (N, C + 1), gt_classes (N,) in [0, C], weights q, r
    (C + 1,) from :func:`eqlv2_class_weights`; pos, neg (C,) are this step's weighted gradient
    magnitudes. ``normalizer`` defaults to N; ``num_classes`` to the logits' width - 1 (pass C
    for logits without objectness)."""
    num_classes = logits.shape[1] - 1 if num_classes is None else num_classes
    dtype = compute_dtype(logits)
    if logits.shape[0] == 0:
        zeros = torch.zeros(num_classes, dtype=dtype, device=logits.device)
        return logits.sum() * 0.0, zeros, zeros.clone()
    z = logits.to(dtype)
    normalizer = logits.shape[0] if normalizer is None else normalizer
    with autocast_disabled(z.device):
        return _EQLv2Function.apply(
            z, gt_classes, q.to(dtype), r.to(dtype), normalizer, num_classes
        )


@register_loss("eqlv2")
class EQLv2(ClassificationLoss):
    """EQLv2 as a stateful module (see the module docstring).

    Buffers (fp32, in ``state_dict``): ``pos_grad``, ``neg_grad`` (C,) accumulated weighted
    gradient magnitudes and ``pos_neg`` (C,) their ratio g.
    """

    num_extra_logits = 1

    @classmethod
    def for_classification(cls, train_counts):
        return cls(len(train_counts), objectness=False)

    def __init__(
        self,
        num_classes: int,
        gamma: float = 12.0,
        mu: float = 0.8,
        alpha: float = 4.0,
        test_with_obj: bool = True,
        objectness: bool = True,
    ):
        super().__init__(num_classes)
        self.gamma, self.mu, self.alpha = float(gamma), float(mu), float(alpha)
        self.num_extra_logits = int(objectness)  # False: C logits (image classification)
        self.background = bool(objectness)  # label C (background) only with the objectness logit
        self.test_with_obj = bool(test_with_obj) and objectness
        self.register_gradient_statistics(initial_ratio=INITIAL_RATIO)

    def class_weights(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """(q, r) (C + 1,, or C without objectness) from the current statistics."""
        return eqlv2_class_weights(self.pos_neg, self.gamma, self.mu, self.alpha, self.objectness)

    def forward(self, logits, gt_classes, context: Optional[LossContext] = None):
        self.check_inputs(logits, gt_classes)
        normalizer = context.normalizer if context is not None else None
        q, r = self.class_weights()
        loss, pos, neg = eqlv2_loss(logits, gt_classes, q, r, normalizer, self.num_classes)
        if self.gradient_record is not None:
            self._record(logits, gt_classes, q, r, normalizer)
        self.update_statistics(pos, neg, num_rows=logits.shape[0])
        return loss

    @torch.no_grad()
    def update_statistics(self, pos: torch.Tensor, neg: torch.Tensor, num_rows: int) -> None:
        """Adds one step's (pos, neg), summed over processes, and recomputes g. A step without
        rows on every process changes nothing (the official head skips its loss then)."""
        if self.accumulate_gradient_statistics(pos, neg, num_rows):
            self.pos_neg = self.pos_grad / (self.neg_grad + RATIO_EPS)

    @torch.no_grad()
    def _record(self, logits, gt_classes, q, r, normalizer) -> None:
        z = logits.detach().to(compute_dtype(logits))
        rows = torch.arange(z.shape[0], device=z.device)
        p = torch.sigmoid(z)
        p_t = p[rows, gt_classes]
        grad = p.mul_(q.to(z.dtype))
        grad[rows, gt_classes] = (p_t - 1.0) * r.to(z.dtype)[gt_classes]
        grad /= max(z.shape[0], 1) if normalizer is None else normalizer
        self.gradient_record.add(grad, gt_classes, self.finite_logits)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(logits.float())
        scores = p[:, : self.num_classes]
        if self.test_with_obj:
            scores = scores * (1.0 - p[:, self.num_classes :])
        return scores

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, gamma={self.gamma}, mu={self.mu}, "
            f"alpha={self.alpha}, test_with_obj={self.test_with_obj}, "
            f"objectness={self.objectness}"
        )
