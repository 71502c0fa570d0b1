"""Federated loss (Zhou et al., "Probabilistic two-stage detection", 2021; detectron2's
``USE_FED_LOSS``): per batch, the sigmoid terms of only a subset of classes count — every class
present in the batch, plus negatives sampled without replacement with probability proportional to
w_j (detectron2: image_count_j ^ 0.5) until there are ``num_classes_kept`` (50) classes. Numerics
of detectron2's ``FastRCNNOutputLayers.get_fed_loss_classes`` (the draw uses torch's global RNG in
the same order, so a seeded run samples the same classes)."""

import torch
from torch import nn


def federated_classes(
    gt_classes: torch.Tensor, num_classes: int, num_kept: int, class_weights: torch.Tensor
) -> torch.Tensor:
    """The classes whose terms count: the batch's unique gt classes (background C included, as
    detectron2) and sampled negatives."""
    present = torch.unique(gt_classes)
    if len(present) >= num_kept:
        return present
    prob = present.new_zeros(num_classes + 1, dtype=torch.float32)
    prob[:num_classes] = class_weights.float()
    prob[present] = 0
    sampled = torch.multinomial(prob, num_kept - len(present), replacement=False)
    return torch.cat([present, sampled])


class FederatedSampler(nn.Module):
    """Draws each batch's class mask (C,) of the federated loss. ``class_weights`` (C,): the
    sampling weights of the classes (a non-persistent buffer, rebuilt from the training set)."""

    def __init__(self, class_weights: torch.Tensor, num_kept: int = 50):
        super().__init__()
        class_weights = torch.as_tensor(class_weights, dtype=torch.float32)
        if class_weights.dim() != 1 or (class_weights < 0).any():
            raise ValueError("class_weights must be (C,) and >= 0")
        if num_kept < 1:
            raise ValueError(f"num_kept must be >= 1, got {num_kept}")
        self.register_buffer("class_weights", class_weights, persistent=False)
        self.num_kept = int(num_kept)

    @property
    def num_classes(self) -> int:
        return self.class_weights.numel()

    def mask(self, gt_classes: torch.Tensor) -> torch.Tensor:
        """(C,) float: 1 for the classes whose terms count in this batch."""
        c = self.num_classes
        kept = federated_classes(gt_classes, c, self.num_kept, self.class_weights)
        out = torch.zeros(c + 1, dtype=torch.float32, device=gt_classes.device)
        out[kept] = 1
        return out[:c]

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, num_kept={self.num_kept}"
