"""MODEL.EQL.LOSS "focal": the sigmoid focal loss of RetinaNet (detectron2's numerics), with
MODEL.RETINANET.FOCAL_LOSS_GAMMA / FOCAL_LOSS_ALPHA."""

from ...errors import ConfigError
from ...losses import SigmoidFocalLoss
from .registry import CLASSIFICATION_LOSS_REGISTRY, DENSE_HEAD, LossEntry


def validate_focal_keys(cfg) -> None:
    """eql's focal losses need gamma > 0 (detectron2's table allows 0; FOCAL_LOSS_ALPHA's rule is
    in eql/utils/detectron2_keys.py)."""
    if cfg.MODEL.RETINANET.FOCAL_LOSS_GAMMA <= 0:
        raise ConfigError(
            "MODEL.RETINANET.FOCAL_LOSS_GAMMA: must be > 0 for eql's focal losses, got "
            f"{cfg.MODEL.RETINANET.FOCAL_LOSS_GAMMA}"
        )


@CLASSIFICATION_LOSS_REGISTRY.register()
class SigmoidFocalLossEntry(LossEntry):
    name = "focal"
    heads = (DENSE_HEAD,)
    summary = "-alpha_t (1 - p_t)^gamma log(p_t), summed / RetinaNet's normaliser"

    @classmethod
    def validate(cls, cfg):
        validate_focal_keys(cfg)

    @classmethod
    def build(cls, cfg, num_classes):
        r = cfg.MODEL.RETINANET
        return SigmoidFocalLoss(num_classes, r.FOCAL_LOSS_GAMMA, r.FOCAL_LOSS_ALPHA)
