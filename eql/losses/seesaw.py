"""Seesaw loss (Wang et al., "Seesaw Loss for Long-Tailed Instance Segmentation", CVPR 2021),
with the numerics of the official implementation (open-mmlab/mmdetection,
``mmdet/models/losses/seesaw_loss.py``).

Logits: C class logits, then 2 objectness logits (object, background). For the foreground rows,
a softmax cross-entropy over the C classes whose non-target logits are shifted by log S_ij:

    S_ij = M_ij C_ij,   M_ij = (N_j / N_i)^p if N_j < N_i else 1   (mitigation; N: counts)
                        C_ij = (s_j / s_i)^q if s_j > s_i else 1   (compensation; s: softmax of
                                                                    the detached class logits,
                                                                    s_i clamped at eps)
    L_cls = sum over foreground rows of CE(z_i + (1 - y_i) log S_i, c_i) / N

and for every row a softmax cross-entropy of the objectness logits (target: background or not),
summed / N; the loss is their sum. N_j counts the rows of class j seen so far (background too),
updated with each batch before its loss. Scores: softmax(classes) * softmax(objectness)[object].

Difference from the official code: the counts are an fp32 buffer summed across processes (every
process holds the same counts; the official code counts per GPU; the mitigation uses ratios of
counts, the same in expectation).
"""

from typing import Optional

import torch
import torch.nn.functional as F

from .base import ClassificationLoss, autocast_disabled, compute_dtype
from .context import LossContext
from .distributed import all_reduce_sum
from .registry import register_loss


def seesaw_weights(
    class_logits: torch.Tensor,
    labels: torch.Tensor,
    counts: torch.Tensor,
    p: float,
    q: float,
    eps: float,
) -> torch.Tensor:
    """S (N_fg, C): the mitigation and compensation factors of foreground rows ``labels`` in
    [0, C), with ``counts`` (C,) the class counts."""
    weights = torch.ones_like(class_logits)
    if p > 0:
        counts = counts.to(class_logits.dtype).clamp(min=1)
        ratio = counts[None, :] / counts[labels][:, None]
        weights = weights * torch.where(ratio < 1.0, ratio.pow(p), torch.ones_like(ratio))
    if q > 0:
        scores = F.softmax(class_logits.detach(), dim=1)
        own = scores.gather(1, labels[:, None]).clamp(min=eps)
        ratio = scores / own
        weights = weights * torch.where(ratio > 1.0, ratio.pow(q), torch.ones_like(ratio))
    return weights


@register_loss("seesaw")
class SeesawLoss(ClassificationLoss):
    """The Seesaw loss as a module (see the module docstring). Logits (N, C + 2); gt_classes in
    [0, C] (C: background). Buffer ``cum_samples`` (C + 1,) fp32, in ``state_dict``."""

    sigmoid = False
    state_buffers = ("cum_samples",)

    @classmethod
    def for_classification(cls, train_counts):
        return cls(len(train_counts), objectness=False)

    def __init__(
        self,
        num_classes: int,
        p: float = 0.8,
        q: float = 2.0,
        eps: float = 1e-2,
        objectness: bool = True,
    ):
        super().__init__(num_classes)
        self.p, self.q, self.eps = float(p), float(q), float(eps)
        # False: C logits, every row a class (image classification), no objectness term
        self.num_extra_logits = 2 if objectness else 0
        self.background = bool(objectness)  # label C (background) only with objectness logits
        self.register_buffer("cum_samples", torch.zeros(num_classes + 1))

    def forward(self, logits, gt_classes, context: Optional[LossContext] = None):
        self.check_inputs(logits, gt_classes)
        n, c = logits.shape[0], self.num_classes
        self.update_counts(gt_classes)
        if n == 0:
            return logits.sum() * 0.0
        normalizer = (context or LossContext()).normalizer_for(n)
        z = logits.to(compute_dtype(logits))
        with autocast_disabled(z.device):
            fg = gt_classes < c
            labels = gt_classes[fg]
            class_logits = z[fg, :c]
            counts = self.cum_samples[:c]  # the classes' counts, background left out
            weights = seesaw_weights(class_logits, labels, counts, self.p, self.q, self.eps)
            off_target = torch.ones_like(class_logits)
            off_target[torch.arange(labels.numel(), device=z.device), labels] = 0
            adjusted = class_logits + weights.log() * off_target
            loss_classes = F.cross_entropy(adjusted, labels, reduction="sum")
            if self.objectness:
                loss_classes = loss_classes + F.cross_entropy(
                    z[:, c:], (~fg).long(), reduction="sum"
                )
        return loss_classes / normalizer

    @torch.no_grad()
    def update_counts(self, gt_classes: torch.Tensor) -> None:
        """Adds this batch's rows per class (background at index C), summed over processes."""
        counts = torch.bincount(gt_classes, minlength=self.num_classes + 1).float()
        counts = counts.to(self.cum_samples.device)
        all_reduce_sum(counts)
        self.cum_samples += counts

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        z = logits.float()
        classes = F.softmax(z[:, : self.num_classes], dim=1)
        if not self.objectness:
            return classes
        objectness = F.softmax(z[:, self.num_classes :], dim=1)
        return classes * objectness[:, :1]

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, p={self.p}, q={self.q}, eps={self.eps}"
