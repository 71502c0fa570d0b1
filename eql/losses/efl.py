"""Equalized Focal Loss (Li et al., "Equalized Focal Loss for Dense Long-Tailed Object Detection",
CVPR 2022; the one-stage loss of "The Equalization Losses", arXiv 2210.05566), with the numerics
of the official code (ModelTC/United-Perception, ``up/tasks/det/plugins/efl/models/losses/efl.py``).

A focal loss whose focusing factor and weight depend on the class:

    gamma_j = gamma_b + s (1 - g_j),   w_j = gamma_j / gamma_b
    L = (1/normalizer) sum_ij -alpha_t w_j (1 - p_t)^gamma_j log(p_t)

g_j = clamp(pos_j / (neg_j + 1e-10), 0, 1), where pos_j / neg_j accumulate, over every step so
far and every process, the magnitudes of d L / d z_ij (what autograd computes for this loss) over
the rows of class j / the other rows. g starts at 1, where EFL is the focal loss. gamma_b and
alpha are the focal loss's (2, 0.25), s = 8.

The official code collects the gradients with backward hooks on the classification convs, after
the backward pass; here they come in closed form from the forward (the same values, see
eql/losses/focal.py), and the statistics are updated right after the loss is computed, so each
step's loss uses the statistics of the steps before it, as in the official code. Statistics are
fp32 buffers (in ``state_dict``), also under autocast, and summed across processes only when
there are several.
"""

from typing import Optional, Tuple

import torch

from .base import RATIO_EPS, ClassificationLoss, compute_dtype
from .context import LossContext
from .focal import focal_loss_with_statistics
from .registry import register_loss


def efl_focusing(
    ratio: torch.Tensor, gamma_b: float, scale_factor: float
) -> Tuple[torch.Tensor, torch.Tensor]:
    """(gamma_j, w_j) (C,) from the clamped gradient ratios g (C,)."""
    gamma = gamma_b + scale_factor * (1.0 - ratio)
    return gamma, gamma / gamma_b


@register_loss("efl")
class EqualizedFocalLoss(ClassificationLoss):
    """EFL as a stateful module (see the module docstring). Logits (N, C), gt_classes in [0, C]
    (C = background); the normaliser comes from the context (RetinaNet: its running average of
    positive anchors), else N.

    Buffers (fp32, in ``state_dict``): ``pos_grad``, ``neg_grad`` (C,) accumulated gradient
    magnitudes and ``pos_neg`` (C,) their clamped ratio g.
    """

    def __init__(
        self,
        num_classes: int,
        gamma_b: float = 2.0,
        scale_factor: float = 8.0,
        alpha: float = 0.25,
    ):
        super().__init__(num_classes)
        if gamma_b <= 0:
            raise ValueError(f"gamma_b must be > 0, got {gamma_b}")
        self.gamma_b, self.scale_factor, self.alpha = float(gamma_b), float(scale_factor), alpha
        self.register_gradient_statistics(initial_ratio=1.0)

    def forward(self, logits, gt_classes, context: Optional[LossContext] = None):
        self.check_inputs(logits, gt_classes)
        context = context or LossContext()
        # in the loss's compute dtype (fp32; fp64 for fp64 logits)
        ratio = self.pos_neg.to(compute_dtype(logits))
        gamma, weight = efl_focusing(ratio, self.gamma_b, self.scale_factor)
        loss, pos, neg = focal_loss_with_statistics(
            logits, gt_classes, gamma, weight, self.alpha, context.normalizer_for(logits.shape[0])
        )
        if self.gradient_record is not None:
            self.gradient_record.add_sums(pos, neg, self.finite_logits)
        self.update_statistics(pos, neg, num_rows=logits.shape[0])
        return loss

    @torch.no_grad()
    def update_statistics(self, pos: torch.Tensor, neg: torch.Tensor, num_rows: int) -> None:
        """Adds one step's gradient magnitudes, summed over processes, and recomputes g. A step
        without rows on every process changes nothing."""
        if self.accumulate_gradient_statistics(pos, neg, num_rows):
            ratio = self.pos_grad / (self.neg_grad + RATIO_EPS)
            self.pos_neg = torch.clamp(ratio, min=0, max=1)

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, gamma_b={self.gamma_b}, "
            f"scale_factor={self.scale_factor}, alpha={self.alpha}"
        )
