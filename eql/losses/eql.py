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

from .base import compute_dtype
from .context import LossContext
from .registry import register_loss
from .sigmoid_ce import WeightedSigmoidLoss, weighted_sigmoid_cross_entropy
from .suppression import tail_suppression


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


@register_loss("eql")
class SigmoidEQL(WeightedSigmoidLoss):
    """Sigmoid EQL, eq. (7). The per-class suppression T(f_j) is a (non-persistent) buffer: it
    follows the model across devices and is rebuilt from the dataset statistics, not loaded from
    checkpoints.

    Args:
        suppression (C,): T(f_j) of every class.
        use_image_labels: apply the LVIS image-level rule: classes in the positive or negative set
            of a row's image (``context.image_labels``) keep weight 1.
    """

    @classmethod
    def for_classification(cls, train_counts):
        return cls(tail_suppression(train_counts), use_image_labels=False)

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
