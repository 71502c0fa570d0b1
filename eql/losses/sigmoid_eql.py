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

from .base import ClassificationLoss, autocast_disabled, compute_dtype
from .context import LossContext
from .federated import FederatedSampler


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
    z = logits.to(compute_dtype(logits))  # fp32 for half-precision logits (autocast)
    if weights is None:
        weights = torch.ones_like(z)
    with autocast_disabled(z.device):
        return _WeightedSigmoidCE.apply(z, gt_classes, weights.to(z.dtype))


def sigmoid_eql_loss(
    logits: torch.Tensor,
    gt_classes: torch.Tensor,
    suppression: torch.Tensor,
    exempt: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """EQL, eq. (7). logits (N, C), gt_classes (N,) in [0, C] (C = background), suppression (C,)
    = T(f_j), exempt (N, C) bool or None. Returns a scalar."""
    weights = eql_weights(gt_classes, suppression.to(compute_dtype(logits)), exempt)
    return weighted_sigmoid_cross_entropy(logits, gt_classes, weights)


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


class _WeightedSigmoidLoss(ClassificationLoss):
    """A sum_ij w_ij BCE(z_ij, y_ij) / N loss, optionally federated: with a
    :class:`~eql.losses.federated.FederatedSampler`, only the classes it keeps in a batch count
    (w_ij times that batch's class mask)."""

    def __init__(self, num_classes: int):
        super().__init__(num_classes)
        self.federated: Optional[FederatedSampler] = None

    def use_federated(self, sampler: FederatedSampler) -> "_WeightedSigmoidLoss":
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


class SigmoidCrossEntropy(_WeightedSigmoidLoss):
    """The sigmoid cross-entropy baseline: sum_ij BCE(z_ij, y_ij) / N over the C class logits
    (detectron2's ``USE_SIGMOID_CE``; with a federated sampler, its ``USE_FED_LOSS``)."""

    def forward(self, logits, gt_classes, context: Optional[LossContext] = None):
        self.check_inputs(logits, gt_classes)
        return self.weighted_loss(logits, gt_classes, None)


class SigmoidEQL(_WeightedSigmoidLoss):
    """Sigmoid EQL, eq. (7). The per-class suppression T(f_j) is a (non-persistent) buffer: it
    follows the model across devices and is rebuilt from the dataset statistics, not loaded from
    checkpoints.

    Args:
        suppression (C,): T(f_j) of every class.
        use_image_labels: apply the LVIS image-level rule: classes in the positive or negative set
            of a row's image (``context.image_labels``) keep weight 1.
    """

    def __init__(self, suppression: torch.Tensor, use_image_labels: bool = True):
        suppression = torch.as_tensor(suppression, dtype=torch.float32)
        if suppression.dim() != 1:
            raise ValueError(f"suppression must be (C,), got shape {tuple(suppression.shape)}")
        if suppression.numel() and (suppression.min() < 0 or suppression.max() > 1):
            raise ValueError("suppression values must lie in [0, 1]")
        super().__init__(suppression.numel())
        self.register_buffer("suppression", suppression, persistent=False)
        self.use_image_labels = use_image_labels

    def forward(self, logits, gt_classes, context: Optional[LossContext] = None):
        self.check_inputs(logits, gt_classes)
        exempt = None
        if self.use_image_labels and context is not None:
            exempt = context.image_class_mask(self.num_classes)
        weights = eql_weights(gt_classes, self.suppression.to(compute_dtype(logits)), exempt)
        return self.weighted_loss(logits, gt_classes, weights)

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, tail={int((self.suppression > 0).sum())}, "
            f"use_image_labels={self.use_image_labels}"
        )
