"""The losses of tools/train_classifier.py, built from the training set's class counts: softmax CE,
softmax EQL, the gradient-driven Softmax-EQL, Seesaw, and the sigmoid losses (CE, EQL, EQLv2)
for comparison. Image classification has no background: every loss reads C logits."""

from typing import Callable, Dict, Sequence

import torch

from ..errors import UserError
from ..losses import (
    EQLv2,
    GradientSoftmaxEQL,
    SeesawLoss,
    SigmoidCrossEntropy,
    SigmoidEQL,
    SoftmaxCrossEntropy,
    SoftmaxEQL,
)
from ..losses.base import ClassificationLoss

# tail classes of the frequency-based losses: fewer than this many training images (few-shot)
TAIL_IMAGES = 20


def tail_suppression(train_counts: Sequence[int], tail_images: int = TAIL_IMAGES) -> torch.Tensor:
    """T(f) of the threshold form: 1 for the classes with fewer than ``tail_images`` training
    images (lambda = tail_images / number of training images), else 0."""
    return (torch.tensor(list(train_counts)) < tail_images).float()


CLASSIFICATION_LOSSES: Dict[str, Callable[[Sequence[int]], ClassificationLoss]] = {
    "ce": lambda counts: SoftmaxCrossEntropy(len(counts)),
    "seql": lambda counts: SoftmaxEQL(tail_suppression(counts), gamma=0.9),
    "softmax_eql": lambda counts: GradientSoftmaxEQL(len(counts)),
    "seesaw": lambda counts: SeesawLoss(len(counts), objectness=False),
    "sigmoid_ce": lambda counts: SigmoidCrossEntropy(len(counts)),
    "sigmoid_eql": lambda counts: SigmoidEQL(tail_suppression(counts), use_image_labels=False),
    "eqlv2": lambda counts: EQLv2(len(counts), objectness=False),
}


def build_classification_loss(name: str, train_counts: Sequence[int]) -> ClassificationLoss:
    if name not in CLASSIFICATION_LOSSES:
        raise UserError(
            f"--losses: unknown loss {name!r}; choose from {sorted(CLASSIFICATION_LOSSES)}"
        )
    return CLASSIFICATION_LOSSES[name](train_counts)
