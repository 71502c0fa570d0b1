"""detectron2's federated-loss keys (MODEL.ROI_BOX_HEAD.USE_FED_LOSS, FED_LOSS_NUM_CLASSES,
FED_LOSS_FREQ_WEIGHT_POWER) for eql's sigmoid losses: the sampler of the classes that count."""

import logging
from typing import Optional

import torch

from ...losses import FederatedSampler
from .statistics import train_set_image_counts

logger = logging.getLogger(__name__)


def federated_sampler_from_config(cfg, num_classes: int) -> Optional[FederatedSampler]:
    """The sampler of USE_FED_LOSS, its weights image_count_j ^ FED_LOSS_FREQ_WEIGHT_POWER from
    the training set's statistics; None when the loss is not federated or the model is built for
    inference (FREQUENCY_SOURCE 'none')."""
    head = cfg.MODEL.ROI_BOX_HEAD
    if not head.USE_FED_LOSS or cfg.MODEL.EQL.FREQUENCY_SOURCE == "none":
        return None
    counts, _ = train_set_image_counts(cfg, num_classes)
    weights = torch.tensor(counts, dtype=torch.float32) ** head.FED_LOSS_FREQ_WEIGHT_POWER
    logger.info(
        f"Federated loss: {head.FED_LOSS_NUM_CLASSES} classes per batch, negatives sampled with "
        f"weight image_count ^ {head.FED_LOSS_FREQ_WEIGHT_POWER}"
    )
    return FederatedSampler(weights, head.FED_LOSS_NUM_CLASSES)
