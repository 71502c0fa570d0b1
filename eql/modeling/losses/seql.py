"""MODEL.EQL.LOSS "seql": softmax Equalization Loss (Tan et al., CVPR 2020, section 3.3) in the ROI
heads: C + 1 softmax logits (background last, never suppressed); its key is MODEL.EQL.SEQL.GAMMA,
the suppression T(f) and the image-level rule are those of MODEL.EQL.EQL."""

import logging

import torch

from ...losses import SoftmaxEQL
from ...utils.config_keys import Key
from .eql import suppression_from_config
from .registry import CLASSIFICATION_LOSS_REGISTRY, ROI_HEAD, LossEntry

logger = logging.getLogger(__name__)


@CLASSIFICATION_LOSS_REGISTRY.register()
class SoftmaxEQLEntry(LossEntry):
    name = "seql"
    config_node = "SEQL"
    heads = (ROI_HEAD,)
    recipe = (("MODEL.EQL.PRIOR_PROB", 0.0),)  # a softmax loss
    summary = (
        "p_j = e^z_j / sum_k w_k e^z_k, w_k = 1 - beta T(f_k)(1 - y_k), beta ~ Bernoulli(gamma)"
    )

    keys = (
        Key(
            "GAMMA",
            float,
            "[0, 1]",
            "probability that a tail class is left out of a foreground proposal's softmax "
            "denominator (beta ~ Bernoulli(gamma) per proposal and class; 0.9, the value of "
            "public re-implementations); T(f) and the image-level rule: MODEL.EQL.EQL",
            default=0.9,
        ),
    )

    @classmethod
    def build(cls, cfg, num_classes):
        if cfg.MODEL.EQL.FREQUENCY_SOURCE == "none":
            return cls.inference_only(SoftmaxEQL(torch.zeros(num_classes), background=True))
        gamma = cls.node(cfg).GAMMA
        logger.info(f"softmax EQL: gamma = {gamma} (background never suppressed)")
        return SoftmaxEQL(
            suppression_from_config(cfg, num_classes),
            gamma,
            background=True,
            use_image_labels=cfg.MODEL.EQL.EQL.USE_IMAGE_LEVEL_LABELS,
        )
