"""MODEL.EQL.LOSS "efl": Equalized Focal Loss (Li et al., CVPR 2022) in EQLRetinaNet; its key is
MODEL.EQL.EFL.SCALE_FACTOR, gamma_b and alpha are MODEL.RETINANET.FOCAL_LOSS_GAMMA / _ALPHA."""

import logging

from ...losses import EqualizedFocalLoss
from ...utils.config_keys import Key
from .focal import validate_focal_keys
from .registry import CLASSIFICATION_LOSS_REGISTRY, DENSE_HEAD, LossEntry

logger = logging.getLogger(__name__)


@CLASSIFICATION_LOSS_REGISTRY.register()
class EqualizedFocalLossEntry(LossEntry):
    name = "efl"
    config_node = "EFL"
    heads = (DENSE_HEAD,)
    summary = "focal loss with gamma_j = gamma_b + s (1 - g_j), weight gamma_j / gamma_b"

    keys = (
        Key(
            "SCALE_FACTOR",
            float,
            ">= 0",
            "s: the focusing factor of class j is gamma_b + s (1 - g_j), g_j in [0, 1] its "
            "accumulated positive / negative gradient ratio (official: 8); gamma_b and alpha are "
            "MODEL.RETINANET.FOCAL_LOSS_GAMMA and FOCAL_LOSS_ALPHA",
            default=8.0,
        ),
    )

    @classmethod
    def validate(cls, cfg):
        validate_focal_keys(cfg)

    @classmethod
    def build(cls, cfg, num_classes):
        r = cfg.MODEL.RETINANET
        s = cls.node(cfg).SCALE_FACTOR
        logger.info(
            f"EFL: gamma_b = {r.FOCAL_LOSS_GAMMA}, scale factor s = {s}, "
            f"alpha = {r.FOCAL_LOSS_ALPHA} ({num_classes} classes)"
        )
        return EqualizedFocalLoss(num_classes, r.FOCAL_LOSS_GAMMA, s, r.FOCAL_LOSS_ALPHA)
