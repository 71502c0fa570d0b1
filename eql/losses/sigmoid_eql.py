"""Sigmoid Equalization Loss (Tan et al., "Equalization Loss for Long-Tailed Object
Recognition", CVPR 2020), eq. (7):

    L = (1/N) sum_i sum_j w_ij * BCE(z_ij, y_ij),
    w_ij = 1 - E(r_i) * T(f_j) * (1 - y_ij)

with E(r) = 1 for a foreground proposal and 0 for background, f_j the fraction of training images
that contain class j and T the suppression strength (eql/losses/suppression.py). On LVIS, classes
in an image's positive set or its ``neg_category_ids`` keep w = 1 (paper section 4.2): pass them
as ``exempt``.

Pure torch (no detectron2). The gradient is computed in closed form, (sigmoid(z) - y) * w / N,
which is what makes this as fast as a plain sigmoid cross-entropy.
"""

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


def eql_weights(
    gt_classes: torch.Tensor,
    suppression: torch.Tensor,
    exempt: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """w_ij = 1 - E(r_i) T(f_j) (1 - y_ij), and 1 where ``exempt``.

    Args:
        gt_classes (N,): class of each proposal in [0, C]; C is background.
        suppression (C,): T(f_j) in [0, 1].
        exempt (N, C) bool or None: classes never suppressed for that proposal.
    Returns:
        (N, C) float weights.
    """
    num_classes = suppression.numel()
    is_fg = gt_classes < num_classes  # E(r)
    w = 1.0 - is_fg[:, None].to(suppression.dtype) * suppression[None, :]
    fg_rows = is_fg.nonzero().squeeze(1)
    w[fg_rows, gt_classes[fg_rows]] = 1.0  # y_ij = 1
    if exempt is not None:
        w = w.masked_fill(exempt, 1.0)
    return w


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
    if weights is None:
        weights = torch.ones_like(logits)
    return _WeightedSigmoidCE.apply(logits, gt_classes, weights.to(logits.dtype))


def sigmoid_eql_loss(
    logits: torch.Tensor,
    gt_classes: torch.Tensor,
    suppression: torch.Tensor,
    exempt: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """EQL, eq. (7). logits (N, C), gt_classes (N,) in [0, C] (C = background), suppression (C,)
    = T(f_j), exempt (N, C) bool or None. Returns a scalar."""
    weights = eql_weights(gt_classes, suppression.to(logits.dtype), exempt)
    return weighted_sigmoid_cross_entropy(logits, gt_classes, weights)


class SigmoidCrossEntropy(nn.Module):
    """The sigmoid cross-entropy baseline with the loss-module interface of eql:
    ``forward(logits (N, C), gt_classes (N,), exempt=None) -> scalar``."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.num_classes = num_classes

    def forward(self, logits, gt_classes, exempt=None):
        return weighted_sigmoid_cross_entropy(logits, gt_classes)


class SigmoidEQL(nn.Module):
    """Sigmoid EQL as a module. The per-class suppression T(f_j) is a (non-persistent) buffer:
    it follows the model across devices and is rebuilt from the dataset statistics, not loaded
    from checkpoints.

    Args:
        suppression (C,): T(f_j) of every class.
    """

    def __init__(self, suppression: torch.Tensor):
        super().__init__()
        suppression = torch.as_tensor(suppression, dtype=torch.float32)
        if suppression.dim() != 1:
            raise ValueError(f"suppression must be (C,), got shape {tuple(suppression.shape)}")
        if suppression.numel() and (suppression.min() < 0 or suppression.max() > 1):
            raise ValueError("suppression values must lie in [0, 1]")
        self.register_buffer("suppression", suppression, persistent=False)
        self.num_classes = suppression.numel()

    def forward(self, logits, gt_classes, exempt=None):
        if logits.shape[1] != self.num_classes:
            raise ValueError(f"logits have {logits.shape[1]} classes, EQL has {self.num_classes}")
        return sigmoid_eql_loss(logits, gt_classes, self.suppression, exempt)
