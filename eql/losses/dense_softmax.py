"""Per-pixel softmax losses for semantic segmentation, on (N, C, H, W) logits without reshaping
them to rows: the softmax cross-entropy and the gradient-driven Softmax-EQL.

Softmax-EQL shifts the non-target logits by tau log(I_j / I_y). Per pixel the -tau log I_y part is
the same for every class, and a softmax does not change when all its logits move together, so the
loss equals a cross-entropy of z_j + tau log I_j: a per-class bias, applied in one pass. The
gradient is (softmax(z') - y) / P (P: labelled pixels) and the statistics come from the same
softmax: pos_j = sum over pixels of class j of (1 - p_j) / P, neg_j = sum over the other pixels
of p_j / P.
"""

from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from .base import autocast_disabled, check_labels
from .softmax_ce import SoftmaxCrossEntropy
from .softmax_eql import GradientSoftmaxEQL


class _DenseSoftmaxCE(torch.autograd.Function):
    """sum over labelled pixels of -log softmax(z + bias)[y] / normalizer; also (pos, neg) (C,),
    the summed |d loss / d z| on / off target per class (not differentiable)."""

    @staticmethod
    def forward(ctx, logits, targets, bias, ignore_index, normalizer):
        c = logits.shape[1]
        valid = targets != ignore_index
        safe_targets = torch.where(valid, targets, torch.zeros_like(targets))
        logp = F.log_softmax(logits + bias.view(1, c, 1, 1), dim=1)
        picked = logp.gather(1, safe_targets[:, None])[:, 0]
        loss = -(picked * valid).sum() / normalizer
        p = logp.exp_()  # the softmax, in the log-softmax's memory
        p.mul_(valid[:, None].to(p.dtype))  # ignored pixels: no gradient, no statistics
        p_t = p.gather(1, safe_targets[:, None])[:, 0]
        counts = torch.bincount(safe_targets[valid], minlength=c).to(p.dtype)
        at_target = torch.zeros(c, dtype=p.dtype, device=p.device)
        at_target.index_add_(0, safe_targets[valid], p_t[valid])
        pos = (counts - at_target) / normalizer
        neg = (p.sum(dim=(0, 2, 3)) - at_target) / normalizer
        ctx.save_for_backward(p, safe_targets, valid)
        ctx.normalizer = normalizer
        ctx.mark_non_differentiable(pos, neg)
        return loss, pos, neg

    @staticmethod
    def backward(ctx, grad_loss, grad_pos, grad_neg):
        p, targets, valid = ctx.saved_tensors
        grad = p.clone()
        grad.scatter_add_(1, targets[:, None], -valid[:, None].to(p.dtype))
        grad.mul_(grad_loss / ctx.normalizer)
        return grad, None, None, None, None


def dense_softmax_ce(
    logits: torch.Tensor,
    targets: torch.Tensor,
    bias: Optional[torch.Tensor] = None,
    ignore_index: int = 255,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, pos, neg): the mean cross-entropy over the labelled pixels of ``logits`` (N, C, H, W)
    plus ``bias`` (C,), ``targets`` (N, H, W) with ``ignore_index``; pos, neg (C,) per class."""
    c = logits.shape[1]
    z = logits.float()
    with autocast_disabled(z.device):
        bias = torch.zeros(c, device=z.device) if bias is None else bias.to(z)
        num_valid = max(int((targets != ignore_index).sum()), 1)
        return _DenseSoftmaxCE.apply(z, targets, bias, ignore_index, num_valid)


def dense_loss(loss, logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = 255):
    """The per-pixel form of a classification loss: SoftmaxCrossEntropy or GradientSoftmaxEQL
    (whose statistics it updates)."""
    if isinstance(loss, (GradientSoftmaxEQL, SoftmaxCrossEntropy)):
        if loss.num_classes != logits.shape[1]:
            raise ValueError(f"logits have {logits.shape[1]} classes, the loss {loss.num_classes}")
        loss.finite_logits = check_labels(
            type(loss).__name__, targets, loss.num_classes, False, ignore_index, logits
        )
    if isinstance(loss, GradientSoftmaxEQL):
        bias = loss.tau * torch.log(loss.current_indicator().clamp(min=loss.eps))
        value, pos, neg = dense_softmax_ce(logits, targets, bias, ignore_index)
        loss.update_statistics(pos, neg, int((targets != ignore_index).sum()))
        return value
    if isinstance(loss, SoftmaxCrossEntropy):
        return dense_softmax_ce(logits, targets, None, ignore_index)[0]
    raise TypeError(f"{type(loss).__name__} has no per-pixel form")
