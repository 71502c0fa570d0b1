"""MODEL.EQL.LOSS "seesaw": the Seesaw loss (Wang et al., CVPR 2021) in the ROI heads, C class
logits + 2 objectness logits; its keys are MODEL.EQL.SEESAW.*."""

import logging

from ...losses import SeesawLoss
from ...utils.config_keys import Key
from .registry import CLASSIFICATION_LOSS_REGISTRY, ROI_HEAD, LossEntry

logger = logging.getLogger(__name__)


@CLASSIFICATION_LOSS_REGISTRY.register()
class SeesawLossEntry(LossEntry):
    name = "seesaw"
    config_node = "SEESAW"
    heads = (ROI_HEAD,)
    recipe = (("MODEL.EQL.PRIOR_PROB", 0.0), ("MODEL.EQL.CLASSIFIER", "cosine"))
    summary = "softmax CE with non-target logits + log((N_j/N_i)^p (s_j/s_i)^q); objectness softmax"

    keys = (
        Key(
            "P",
            float,
            ">= 0",
            "mitigation exponent p: a rarer class j gets (N_j / N_i)^p of its negative gradient "
            "from the rows of class i (official: 0.8; 0: off)",
            default=0.8,
        ),
        Key(
            "Q",
            float,
            ">= 0",
            "compensation exponent q: a class scored above the true one gets (s_j / s_i)^q "
            "(official: 2.0; 0: off)",
            default=2.0,
        ),
        Key(
            "EPS",
            float,
            "(0, 1]",
            "smallest true-class score in the compensation's divisor (official: 0.01)",
            default=0.01,
        ),
    )

    @classmethod
    def build(cls, cfg, num_classes):
        node = cls.node(cfg)
        logger.info(f"Seesaw: p = {node.P}, q = {node.Q}, eps = {node.EPS} ({num_classes} classes)")
        return SeesawLoss(num_classes, node.P, node.Q, node.EPS)
