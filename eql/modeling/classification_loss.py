"""Builds the classification loss of the box predictor from MODEL.EQL and the training set's
category statistics, and logs the tail it defines."""

import logging
from typing import List, Tuple

import torch
from torch import nn

from ..losses import SigmoidCrossEntropy, SigmoidEQL, suppression_strength

logger = logging.getLogger(__name__)


def train_set_image_counts(cfg) -> Tuple[List[int], int]:
    """(image count per class, number of annotated images) of the training set(s): from
    MODEL.EQL.FREQUENCY_SOURCE, a category-count json, or else the statistics of DATASETS.TRAIN
    (summed over the listed datasets)."""
    from ..data.category_stats import CategoryStats, load_stats_file
    from ..data.lvis_format import get_category_stats

    source = cfg.MODEL.EQL.FREQUENCY_SOURCE
    if source and source != "dataset":
        stats: List[CategoryStats] = [load_stats_file(source)]
    else:
        if not cfg.DATASETS.TRAIN:
            raise ValueError("MODEL.EQL needs DATASETS.TRAIN (or MODEL.EQL.FREQUENCY_SOURCE)")
        stats = [get_category_stats(name) for name in cfg.DATASETS.TRAIN]
    num_classes = cfg.MODEL.ROI_HEADS.NUM_CLASSES
    for s in stats:
        if s.num_classes != num_classes:
            raise ValueError(
                f"category statistics of {s.source or 'the training set'} have {s.num_classes} "
                f"classes, MODEL.ROI_HEADS.NUM_CLASSES is {num_classes}"
            )
    counts = [sum(s.image_count[j] for s in stats) for j in range(num_classes)]
    return counts, sum(s.num_images_with_annotations for s in stats)


def eql_lambda(cfg, num_images: int) -> float:
    """lambda of MODEL.EQL: LAMBDA, or TAIL_IMAGE_COUNT / num_images when that is set (a class is
    then tail iff it is in fewer than TAIL_IMAGE_COUNT training images)."""
    if cfg.MODEL.EQL.TAIL_IMAGE_COUNT > 0:
        return cfg.MODEL.EQL.TAIL_IMAGE_COUNT / num_images
    return cfg.MODEL.EQL.LAMBDA


def suppression_from_config(cfg) -> torch.Tensor:
    """T(f_j) (C,) of MODEL.EQL on the training set; logs the tail it defines."""
    counts, num_images = train_set_image_counts(cfg)
    lam = eql_lambda(cfg, num_images)
    freq = torch.tensor(counts, dtype=torch.float64) / num_images
    name = cfg.MODEL.EQL.WEIGHT_FUNCTION
    params = {}
    if name == "gompertz":
        params = {"b": cfg.MODEL.EQL.GOMPERTZ_B, "c": cfg.MODEL.EQL.GOMPERTZ_C}
    suppression = suppression_strength(freq, name, lam, **params)
    n = torch.tensor(counts, dtype=torch.float64)
    tail_ratio = float((suppression.double() * n).sum() / n.sum()) if n.sum() > 0 else 0.0
    num_tail = int((freq < lam).sum())
    logger.info(
        f"EQL: lambda = {lam:.6g} ({name}); {num_tail} of {len(counts)} classes have f < lambda; "
        f"tail ratio TR(lambda) = {tail_ratio:.4f} ({num_images} annotated training images)"
    )
    return suppression


class InferenceOnlyLoss(nn.Module):
    """Stands in for a loss that cannot be built (no training statistics); fails if used."""

    def __init__(self, reason: str):
        super().__init__()
        self.reason = reason

    def forward(self, logits, gt_classes, exempt=None):
        raise RuntimeError(self.reason)


def build_classification_loss(cfg) -> nn.Module:
    """The nn.Module named by MODEL.EQL.LOSS."""
    from ..config import validate_eql_config

    validate_eql_config(cfg)
    name = cfg.MODEL.EQL.LOSS
    if name == "sigmoid_ce":
        return SigmoidCrossEntropy(cfg.MODEL.ROI_HEADS.NUM_CLASSES)
    if name == "eql":
        if cfg.MODEL.EQL.FREQUENCY_SOURCE == "none":
            return InferenceOnlyLoss(
                "MODEL.EQL.FREQUENCY_SOURCE is 'none' (a model built for inference): set it to "
                "'dataset' or a category-count json to train with EQL"
            )
        return SigmoidEQL(suppression_from_config(cfg))
    raise ValueError(f"MODEL.EQL.LOSS: unknown loss {name!r}")  # validate_eql_config catches it
