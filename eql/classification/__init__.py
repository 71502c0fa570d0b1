"""Long-tailed image classification with eql's losses, in plain torch (no detectron2): CIFAR-LT
from a local CIFAR copy or a generated long-tailed set, a CIFAR ResNet, a training loop, and
accuracy over many / medium / few-shot classes. ``tools/train_classifier.py`` runs it."""

from .data import (
    LongTailedSplit,
    cifar_long_tailed,
    generated_long_tailed,
    long_tailed_counts,
)
from .losses import CLASSIFICATION_LOSSES, build_classification_loss
from .metrics import shot_accuracy
from .model import cifar_resnet
