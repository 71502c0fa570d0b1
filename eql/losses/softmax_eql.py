"""Softmax Equalization Loss (Tan et al., CVPR 2020, section 3.3 "Extend to Image
Classification"):

    p_j = exp(z_j) / sum_k w_k exp(z_k),   w_k = 1 - beta T(f_k) (1 - y_k),   L = -log p_y

beta is drawn for every (row, class) from a Bernoulli of probability gamma (0.9: the value public
re-implementations use; the paper's Table 7 ablates it), T(f) is EQL's suppression strength of a
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


def softmax_eql_loss(
    logits: torch.Tensor,
    gt_classes: torch.Tensor,
    suppression: torch.Tensor,
    beta: torch.Tensor,
    exempt: Optional[torch.Tensor] = None,
    normalizer=None,
) -> torch.Tensor:
    """-log p_y summed over rows / ``normalizer`` (default N), with the weights of
    :func:`softmax_eql_weights`."""
    n = logits.shape[0]
    if n == 0:
        return logits.sum() * 0.0
    z = logits.to(compute_dtype(logits))
    with autocast_disabled(z.device):
        w = softmax_eql_weights(gt_classes, suppression.to(z.dtype), beta, z.shape[1], exempt)
        adjusted = z + torch.log(w)  # -inf where a class is suppressed
        loss = F.cross_entropy(adjusted, gt_classes, reduction="sum")
    return loss / (n if normalizer is None else normalizer)


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
        self.use_image_labels = use_image_labels

    def forward(self, logits, gt_classes, context: Optional[LossContext] = None):
        self.check_inputs(logits, gt_classes)
        context = context or LossContext()
        beta = torch.rand(logits.shape[0], self.num_classes, device=logits.device) < self.gamma
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
