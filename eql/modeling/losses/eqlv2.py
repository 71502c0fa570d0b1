"""MODEL.EQL.LOSS "eqlv2": Equalization Loss v2 (Tan et al., CVPR 2021) in the ROI heads; its
keys are MODEL.EQL.EQLV2.*."""

import logging

from ...losses import EQLv2
from ...utils.config_keys import Key
from .registry import CLASSIFICATION_LOSS_REGISTRY, ROI_HEAD, LossEntry

logger = logging.getLogger(__name__)


@CLASSIFICATION_LOSS_REGISTRY.register()
class EQLv2Entry(LossEntry):
    name = "eqlv2"
    config_node = "EQLV2"
    heads = (ROI_HEAD,)
    recipe = (("MODEL.EQL.PRIOR_PROB", 0.0),)  # zero class biases, as the official code
    summary = "q_j, r_j from the accumulated positive/negative gradient ratio; objectness logit"

    keys = (
        Key(
            "GAMMA",
            float,
            "> 0",
            "steepness of the negative weight q_j = 1 / (1 + exp(-GAMMA (g_j - MU))) in the "
            "gradient ratio g_j (official: 12)",
            default=12.0,
        ),
        Key("MU", float, ">= 0", "gradient ratio at which q_j = 1/2 (official: 0.8)", default=0.8),
        Key(
            "ALPHA",
            float,
            ">= 0",
            "positive weight r_j = 1 + ALPHA (1 - q_j) (official: 4)",
            default=4.0,
        ),
        Key(
            "TEST_WITH_OBJ",
            bool,
            doc="inference scores sigmoid(z_j) (1 - sigmoid(z_objectness)) (official "
            "test_with_obj); False: sigmoid(z_j)",
            default=True,
        ),
    )

    @classmethod
    def build(cls, cfg, num_classes):
        node = cls.node(cfg)
        logger.info(
            f"EQLv2: gamma = {node.GAMMA}, mu = {node.MU}, alpha = {node.ALPHA}, "
            f"test_with_obj = {node.TEST_WITH_OBJ} ({num_classes} classes + objectness)"
        )
        return EQLv2(num_classes, node.GAMMA, node.MU, node.ALPHA, node.TEST_WITH_OBJ)
