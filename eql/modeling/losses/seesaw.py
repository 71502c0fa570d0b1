"""MODEL.EQL.LOSS "seesaw": the Seesaw loss (Wang et al., CVPR 2021) in the ROI heads, C class
logits + 2 objectness logits; its keys are MODEL.EQL.SEESAW.*."""

import logging

from ...errors import ConfigError
from ...losses import SeesawLoss
from .registry import CLASSIFICATION_LOSS_REGISTRY, ROI_HEAD, LossEntry

logger = logging.getLogger(__name__)


@CLASSIFICATION_LOSS_REGISTRY.register()
class SeesawLossEntry(LossEntry):
    name = "seesaw"
    config_node = "SEESAW"
    heads = (ROI_HEAD,)
    sigmoid = False
    summary = "softmax CE with non-target logits + log((N_j/N_i)^p (s_j/s_i)^q); objectness softmax"

    @classmethod
    def add_config(cls, node):
        # Mitigation exponent p: a rarer class j gets (N_j / N_i)^p of its negative gradient from
        # the rows of class i (official: 0.8; 0: off).
        node.P = 0.8
        # Compensation exponent q: a class scored above the true one gets (s_j / s_i)^q (official:
        # 2.0; 0: off).
        node.Q = 2.0
        # Smallest true-class score in the compensation's divisor (official: 0.01).
        node.EPS = 0.01

    @classmethod
    def validate(cls, cfg):
        node = cls.node(cfg)
        for key in ("P", "Q"):
            if node[key] < 0:
                raise ConfigError(f"{cls.key(key)}: must be >= 0, got {node[key]}")
        if node.EPS <= 0:
            raise ConfigError(f"{cls.key('EPS')}: must be > 0, got {node.EPS}")

    @classmethod
    def build(cls, cfg, num_classes):
        node = cls.node(cfg)
        logger.info(f"Seesaw: p = {node.P}, q = {node.Q}, eps = {node.EPS} ({num_classes} classes)")
        return SeesawLoss(num_classes, node.P, node.Q, node.EPS)
