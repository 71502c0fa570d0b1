"""MODEL.EQL.LOSS "softmax_ce" and "softmax_eql" for semantic segmentation (EQLSemSegFPNHead):
the per-pixel softmax cross-entropy baseline and the gradient-driven Softmax-EQL of "The
Equalization Losses" (keys MODEL.EQL.SOFTMAX_EQL.*)."""

import logging

from ...errors import ConfigError
from ...losses import GradientSoftmaxEQL, SoftmaxCrossEntropy
from ...losses.gradient_softmax_eql import INDICATORS
from .registry import CLASSIFICATION_LOSS_REGISTRY, SEMSEG_HEAD, LossEntry

logger = logging.getLogger(__name__)


@CLASSIFICATION_LOSS_REGISTRY.register()
class SoftmaxCrossEntropyEntry(LossEntry):
    name = "softmax_ce"
    heads = (SEMSEG_HEAD,)
    sigmoid = False
    summary = "per-pixel -log softmax(z)[y], mean over labelled pixels (detectron2's)"

    @classmethod
    def build(cls, cfg, num_classes):
        return SoftmaxCrossEntropy(num_classes)


@CLASSIFICATION_LOSS_REGISTRY.register()
class GradientSoftmaxEQLEntry(LossEntry):
    name = "softmax_eql"
    config_node = "SOFTMAX_EQL"
    heads = (SEMSEG_HEAD,)
    sigmoid = False
    summary = "softmax CE with non-target logits + tau log(I_j / I_y), I accumulated gradients"

    @classmethod
    def add_config(cls, node):
        # Which accumulated gradient is the indicator I: "pos" (official default), "neg" or
        # "pos_and_neg".
        node.INDICATOR = "pos"
        # tau: the non-target logits move by tau log(I_j / I_y) (official: 1.0).
        node.TAU = 1.0
        # Smallest indicator value (official: 1e-4).
        node.EPS = 1e-4

    @classmethod
    def validate(cls, cfg):
        node = cls.node(cfg)
        if node.INDICATOR not in INDICATORS:
            raise ConfigError(
                f"{cls.key('INDICATOR')}: unknown indicator {node.INDICATOR!r}; choose one of "
                f"{list(INDICATORS)}"
            )
        if node.TAU < 0:
            raise ConfigError(f"{cls.key('TAU')}: must be >= 0, got {node.TAU}")
        if node.EPS <= 0:
            raise ConfigError(f"{cls.key('EPS')}: must be > 0, got {node.EPS}")

    @classmethod
    def build(cls, cfg, num_classes):
        node = cls.node(cfg)
        logger.info(
            f"Softmax-EQL: indicator {node.INDICATOR}, tau = {node.TAU}, eps = {node.EPS} "
            f"({num_classes} classes)"
        )
        return GradientSoftmaxEQL(num_classes, node.INDICATOR, node.TAU, node.EPS)
