"""MODEL.EQL.LOSS "eql": sigmoid Equalization Loss (Tan et al., CVPR 2020) in the ROI heads; its
keys are MODEL.EQL.EQL.*."""

import logging

import torch

from ...errors import ConfigError
from ...losses import SigmoidEQL, suppression_strength
from ...losses.suppression import SUPPRESSION_FUNCTIONS
from .federated import federated_sampler_from_config
from .registry import (
    CLASSIFICATION_LOSS_REGISTRY,
    INFERENCE_ONLY,
    ROI_HEAD,
    InferenceOnlyLoss,
    LossEntry,
)
from .statistics import train_set_image_counts

logger = logging.getLogger(__name__)


@CLASSIFICATION_LOSS_REGISTRY.register()
class SigmoidEQLEntry(LossEntry):
    name = "eql"
    config_node = "EQL"
    heads = (ROI_HEAD,)
    federated = True
    summary = "w_ij = 1 - E(r_i) T(f_j) (1 - y_ij): tail negatives dropped for foreground rows"

    @classmethod
    def add_config(cls, node):
        # lambda: classes whose image frequency f_j (images with class j / annotated training
        # images) is below it are tail classes. LVIS v1: 0.0011 (815 of 1,203); v0.5: 0.00177.
        node.LAMBDA = 0.0011
        # If > 0, a class is tail iff it is in fewer than this many training images (replaces
        # LAMBDA by TAIL_IMAGE_COUNT / number of annotated training images).
        node.TAIL_IMAGE_COUNT = 0
        # Suppression strength T(f) in [0, 1] of a class's negative gradients for foreground
        # proposals: "threshold" (1 if f < lambda, the paper's), "exponential" or "gompertz"
        # (smooth decays centred on lambda; exact forms in eql/losses/suppression.py).
        node.WEIGHT_FUNCTION = "threshold"
        # Gompertz form T(f) = 1 - exp(-B exp(-C f / lambda)): plateau and steepness.
        node.GOMPERTZ_B = 20.0
        node.GOMPERTZ_C = 3.3621
        # LVIS image-level rule (paper section 4.2): classes in a proposal's image's positive set
        # or neg_category_ids keep weight 1. False reproduces the official code (no such rule).
        node.USE_IMAGE_LEVEL_LABELS = True

    @classmethod
    def validate(cls, cfg):
        node = cls.node(cfg)

        def fail(key, msg):
            raise ConfigError(f"{cls.key(key)}: {msg}")

        if node.WEIGHT_FUNCTION not in SUPPRESSION_FUNCTIONS:
            fail(
                "WEIGHT_FUNCTION",
                f"unknown function {node.WEIGHT_FUNCTION!r}; choose one of "
                f"{sorted(SUPPRESSION_FUNCTIONS)}",
            )
        if not 0 < node.LAMBDA <= 1:
            fail("LAMBDA", f"must be in (0, 1], got {node.LAMBDA}")
        if node.TAIL_IMAGE_COUNT < 0 or int(node.TAIL_IMAGE_COUNT) != node.TAIL_IMAGE_COUNT:
            fail("TAIL_IMAGE_COUNT", f"must be an integer >= 0, got {node.TAIL_IMAGE_COUNT}")
        if node.GOMPERTZ_B <= 0:
            fail("GOMPERTZ_B", f"must be > 0, got {node.GOMPERTZ_B}")
        if node.GOMPERTZ_C <= 0:
            fail("GOMPERTZ_C", f"must be > 0, got {node.GOMPERTZ_C}")
        if not isinstance(node.USE_IMAGE_LEVEL_LABELS, bool):
            fail(
                "USE_IMAGE_LEVEL_LABELS",
                f"must be True or False, got {node.USE_IMAGE_LEVEL_LABELS!r}",
            )

    @classmethod
    def build(cls, cfg, num_classes):
        if cfg.MODEL.EQL.FREQUENCY_SOURCE == "none":
            return InferenceOnlyLoss(
                SigmoidEQL(torch.zeros(num_classes)), INFERENCE_ONLY.format(cls.name)
            )
        loss = SigmoidEQL(
            suppression_from_config(cfg, num_classes), cls.node(cfg).USE_IMAGE_LEVEL_LABELS
        )
        sampler = federated_sampler_from_config(cfg, num_classes)
        return loss.use_federated(sampler) if sampler is not None else loss


def eql_lambda(cfg, num_images: int) -> float:
    """lambda of MODEL.EQL.EQL: LAMBDA, or TAIL_IMAGE_COUNT / num_images when that is set (a class
    is then tail iff it is in fewer than TAIL_IMAGE_COUNT training images)."""
    node = cfg.MODEL.EQL.EQL
    if node.TAIL_IMAGE_COUNT > 0:
        return node.TAIL_IMAGE_COUNT / num_images
    return node.LAMBDA


def suppression_from_config(cfg, num_classes: int) -> torch.Tensor:
    """T(f_j) (C,) of MODEL.EQL.EQL on the training set; logs the tail it defines."""
    counts, num_images = train_set_image_counts(cfg, num_classes)
    lam = eql_lambda(cfg, num_images)
    freq = torch.tensor(counts, dtype=torch.float64) / num_images
    node = cfg.MODEL.EQL.EQL
    name = node.WEIGHT_FUNCTION
    params = {"b": node.GOMPERTZ_B, "c": node.GOMPERTZ_C} if name == "gompertz" else {}
    suppression = suppression_strength(freq, name, lam, **params)
    n = torch.tensor(counts, dtype=torch.float64)
    tail_ratio = float((suppression.double() * n).sum() / n.sum()) if n.sum() > 0 else 0.0
    num_tail = int((freq < lam).sum())
    logger.info(
        f"EQL: lambda = {lam:.6g} ({name}); {num_tail} of {len(counts)} classes have f < lambda; "
        f"tail ratio TR(lambda) = {tail_ratio:.4f} ({num_images} annotated training images)"
    )
    return suppression
