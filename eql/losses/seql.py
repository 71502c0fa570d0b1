"""Softmax Equalization Loss (Tan et al., CVPR 2020, section 3.3 "Extend to Image
Classification"):

    p_j = exp(z_j) / sum_k w_k exp(z_k),   w_k = 1 - beta T(f_k) (1 - y_k),   L = -log p_y

beta is drawn for every (row, class) from a Bernoulli of probability gamma (0.9: the value public
re-implementations use; the paper's Table 7 ablates it; only the draws of suppressed classes of
foreground rows matter, and only those are made), T(f) is EQL's suppression strength of a
class of training frequency f (eql/losses/suppression.py). Computed as a cross-entropy of the
logits z + log w (a suppressed class drops out of the denominator).

In a detector's ROI head (``background=True``): C + 1 logits with the background last, as
detectron2's softmax predictor; the background is never suppressed, and only foreground proposals
suppress (E(r) of the sigmoid EQL; background proposals keep every class in their denominator).
"""

from typing import Optional

import torch
import torch.nn.functional as F

from .base import ClassificationLoss, autocast_disabled, compute_dtype
from .context import LossContext
from .registry import register_loss
from .suppression import tail_suppression


def softmax_eql_weights(
    gt_classes: torch.Tensor,
    suppression: torch.Tensor,
    beta: torch.Tensor,
    num_logits: int,
    exempt: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """w (N, num_logits) = 1 - beta T (1 - y) on the C class columns of foreground rows, 1
    elsewhere (background column, background rows, ``exempt`` classes). ``beta`` (N, C) in
    {0, 1}."""
    n, c = gt_classes.shape[0], suppression.numel()
    w = torch.ones(n, num_logits, dtype=suppression.dtype, device=suppression.device)
    fg = gt_classes < c
    suppressed = beta.to(suppression.dtype) * suppression[None, :] * fg[:, None]
    w[:, :c] -= suppressed
    rows = fg.nonzero().squeeze(1)
    w[rows, gt_classes[rows]] = 1.0  # y_k = 1
    if exempt is not None:
        w[:, :c] = w[:, :c].masked_fill(exempt, 1.0)
    return w


class _MaskedSoftmaxCE(torch.autograd.Function):
    """sum_i -log softmax(z_i over the classes not dropped)[y_i] / normalizer; the softmax is
    built in place in the masked copy of the logits (one N x C buffer, as detectron2's CE)."""

    @staticmethod
    def forward(ctx, logits, targets, drop, normalizer):
        rows = torch.arange(logits.shape[0], device=logits.device)
        p = logits.masked_fill(drop, float("-inf"))
        top = p.max(dim=1, keepdim=True).values
        p.sub_(top).exp_()
        total = p.sum(dim=1, keepdim=True)
        loss = (total.log() + top)[:, 0] - logits[rows, targets]
        p.div_(total)
        ctx.save_for_backward(p, targets)
        ctx.normalizer = normalizer
        return loss.sum() / normalizer

    @staticmethod
    def backward(ctx, grad_loss):
        p, targets = ctx.saved_tensors
        grad = p.clone()
        grad[torch.arange(p.shape[0], device=p.device), targets] -= 1.0
        return grad.mul_(grad_loss / ctx.normalizer), None, None, None


def softmax_eql_loss(
    logits: torch.Tensor,
    gt_classes: torch.Tensor,
    suppression: torch.Tensor,
    beta: torch.Tensor,
    exempt: Optional[torch.Tensor] = None,
    normalizer=None,
) -> torch.Tensor:
    """-log p_y summed over rows / ``normalizer`` (default N), with the weights of
    :func:`softmax_eql_weights`. With a 0/1 suppression (the threshold form) the suppressed
    logits are set to -inf (one pass); otherwise log w is added."""
    n = logits.shape[0]
    if n == 0:
        return logits.sum() * 0.0
    z = logits.to(compute_dtype(logits))
    c = suppression.numel()
    with autocast_disabled(z.device):
        if bool(((suppression == 0) | (suppression == 1)).all()):
            fg = gt_classes < c
            drop = beta.bool() & (suppression > 0)[None, :] & fg[:, None]
            rows = fg.nonzero().squeeze(1)
            drop[rows, gt_classes[rows]] = False
            if exempt is not None:
                drop &= ~exempt
            if z.shape[1] > c:  # the background column is never dropped
                drop = torch.cat([drop, drop.new_zeros(n, z.shape[1] - c)], dim=1)
            return _MaskedSoftmaxCE.apply(
                z, gt_classes, drop, n if normalizer is None else normalizer
            )
        w = softmax_eql_weights(gt_classes, suppression.to(z.dtype), beta, z.shape[1], exempt)
        adjusted = z + torch.log(w)  # -inf where a class is suppressed
        loss = F.cross_entropy(adjusted, gt_classes, reduction="sum")
    return loss / (n if normalizer is None else normalizer)


@register_loss("seql")
class SoftmaxEQL(ClassificationLoss):
    """Softmax EQL as a module (see the module docstring).

    Args:
        suppression (C,): T(f_j) of every class (a non-persistent buffer, rebuilt from the
            training statistics).
        gamma: probability that beta = 1.
        background: C + 1 logits with a background class (a detector's ROI head), else C.
        use_image_labels: LVIS image-level rule, as sigmoid EQL: classes of a row's image's
            positive and negative sets are not suppressed.
    """

    sigmoid = False

    @classmethod
    def for_classification(cls, train_counts):
        return cls(tail_suppression(train_counts), gamma=0.9)

    def __init__(
        self,
        suppression: torch.Tensor,
        gamma: float = 0.9,
        background: bool = False,
        use_image_labels: bool = False,
    ):
        suppression = torch.as_tensor(suppression, dtype=torch.float32)
        if suppression.dim() != 1 or (suppression.numel() and suppression.max() > 1):
            raise ValueError("suppression must be (C,) with values in [0, 1]")
        if not 0 <= gamma <= 1:
            raise ValueError(f"gamma must be in [0, 1], got {gamma}")
        super().__init__(suppression.numel())
        self.register_buffer("suppression", suppression, persistent=False)
        self.gamma = float(gamma)
        self.num_extra_logits = int(background)
        self.background = bool(background)  # label C (background) only with its logit
        self.use_image_labels = use_image_labels

    def draw_beta(self, gt_classes: torch.Tensor) -> torch.Tensor:
        """beta (N, C) bool, Bernoulli(gamma) where it matters — the suppressed classes of the
        foreground rows (elsewhere False: the weight is 1 whatever beta is); one uniform draw per
        (foreground row, suppressed class) from torch's RNG."""
        n, c = gt_classes.shape[0], self.num_classes
        beta = torch.zeros(n, c, dtype=torch.bool, device=gt_classes.device)
        rows = (gt_classes < c).nonzero().squeeze(1)
        cols = (self.suppression > 0).nonzero().squeeze(1)
        if rows.numel() and cols.numel():
            draw = torch.rand(rows.numel(), cols.numel(), device=gt_classes.device) < self.gamma
            beta[rows[:, None], cols[None, :]] = draw
        return beta

    def forward(self, logits, gt_classes, context: Optional[LossContext] = None):
        self.check_inputs(logits, gt_classes)
        context = context or LossContext()
        beta = self.draw_beta(gt_classes)
        exempt = context.image_class_mask(self.num_classes) if self.use_image_labels else None
        return softmax_eql_loss(
            logits, gt_classes, self.suppression, beta, exempt, context.normalizer
        )

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return F.softmax(logits.float(), dim=1)[:, : self.num_classes]

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, gamma={self.gamma}, "
            f"background={bool(self.num_extra_logits)}, tail={int((self.suppression > 0).sum())}"
        )
