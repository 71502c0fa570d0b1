"""MODEL.EQL.LOSS "softmax_eql": the gradient-driven Softmax-EQL of "The Equalization Losses"
(Tan et al., TPAMI 2023) for semantic segmentation (EQLSemSegFPNHead); its keys are
MODEL.EQL.SOFTMAX_EQL.*."""

import logging

from ...losses import GradientSoftmaxEQL
from ...losses.softmax_eql import INDICATORS
from ...utils.config_keys import Key
from .registry import CLASSIFICATION_LOSS_REGISTRY, SEMSEG_HEAD, LossEntry

logger = logging.getLogger(__name__)


@CLASSIFICATION_LOSS_REGISTRY.register()
class GradientSoftmaxEQLEntry(LossEntry):
    name = "softmax_eql"
    config_node = "SOFTMAX_EQL"
    heads = (SEMSEG_HEAD,)
    summary = "softmax CE with non-target logits + tau log(I_j / I_y), I accumulated gradients"

    keys = (
        Key(
            "INDICATOR",
            str,
            tuple(INDICATORS),
            "which accumulated gradient is the indicator I (official: pos)",
            default="pos",
        ),
        Key(
            "TAU",
            float,
            ">= 0",
            "tau: the non-target logits move by tau log(I_j / I_y) (official: 1.0)",
            default=1.0,
        ),
        Key("EPS", float, "> 0", "smallest indicator value (official: 1e-4)", default=1e-4),
    )

    @classmethod
    def build(cls, cfg, num_classes):
        node = cls.node(cfg)
        logger.info(
            f"Softmax-EQL: indicator {node.INDICATOR}, tau = {node.TAU}, eps = {node.EPS} "
            f"({num_classes} classes)"
        )
        return GradientSoftmaxEQL(num_classes, node.INDICATOR, node.TAU, node.EPS)
