"""MODEL.EQL.LOSS "eqlv2": Equalization Loss v2 (Tan et al., CVPR 2021) in the ROI heads; its
keys are MODEL.EQL.EQLV2.*."""

import logging

from ...errors import ConfigError
from ...losses import EQLv2
from .registry import CLASSIFICATION_LOSS_REGISTRY, ROI_HEAD, LossEntry

logger = logging.getLogger(__name__)


@CLASSIFICATION_LOSS_REGISTRY.register()
class EQLv2Entry(LossEntry):
    name = "eqlv2"
    config_node = "EQLV2"
    heads = (ROI_HEAD,)
    summary = "q_j, r_j from the accumulated positive/negative gradient ratio; objectness logit"

    @classmethod
    def add_config(cls, node):
        # Steepness of the negative weight q_j = 1 / (1 + exp(-GAMMA (g_j - MU))) in the gradient
        # ratio g_j (official: 12).
        node.GAMMA = 12.0
        # Ratio at which q_j = 1/2 (official: 0.8).
        node.MU = 0.8
        # Positive weight r_j = 1 + ALPHA (1 - q_j) (official: 4).
        node.ALPHA = 4.0
        # Inference scores sigmoid(z_j) (1 - sigmoid(z_objectness)) (official test_with_obj); False:
        # sigmoid(z_j).
        node.TEST_WITH_OBJ = True

    @classmethod
    def validate(cls, cfg):
        node = cls.node(cfg)
        if node.GAMMA <= 0:
            raise ConfigError(f"{cls.key('GAMMA')}: must be > 0, got {node.GAMMA}")
        if node.ALPHA < 0:
            raise ConfigError(f"{cls.key('ALPHA')}: must be >= 0, got {node.ALPHA}")
        if not isinstance(node.TEST_WITH_OBJ, bool):
            raise ConfigError(
                f"{cls.key('TEST_WITH_OBJ')}: must be True or False, got {node.TEST_WITH_OBJ!r}"
            )

    @classmethod
    def build(cls, cfg, num_classes):
        node = cls.node(cfg)
        logger.info(
            f"EQLv2: gamma = {node.GAMMA}, mu = {node.MU}, alpha = {node.ALPHA}, "
            f"test_with_obj = {node.TEST_WITH_OBJ} ({num_classes} classes + objectness)"
        )
        return EQLv2(num_classes, node.GAMMA, node.MU, node.ALPHA, node.TEST_WITH_OBJ)
