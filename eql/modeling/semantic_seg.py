"""detectron2's semantic FPN head with an eql per-pixel loss (MODEL.EQL.LOSS "softmax_ce" or
"softmax_eql")."""

import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY
from detectron2.modeling.meta_arch.semantic_seg import SemSegFPNHead

from ..errors import ConfigError
from ..losses import ClassificationLoss, dense_loss
from .heads import SEMSEG_HEAD
from .losses import build_classification_loss


@SEM_SEG_HEADS_REGISTRY.register()
class EQLSemSegFPNHead(SemSegFPNHead):
    """SemSegFPNHead whose loss is ``seg_loss`` on the upsampled logits, pixels of
    ``ignore_value`` left out; scores at inference are detectron2's (a softmax)."""

    eql_head = SEMSEG_HEAD  # eql/modeling/heads.py

    @configurable
    def __init__(self, input_shape, *, seg_loss: ClassificationLoss, **kwargs):
        super().__init__(input_shape, **kwargs)
        if seg_loss.num_classes != self.predictor.out_channels:
            raise ConfigError(
                f"the loss has {seg_loss.num_classes} classes, MODEL.SEM_SEG_HEAD.NUM_CLASSES "
                f"{self.predictor.out_channels}"
            )
        self.seg_loss = seg_loss

    @classmethod
    def from_config(cls, cfg, input_shape):
        ret = super().from_config(cfg, input_shape)
        ret["seg_loss"] = build_classification_loss(
            cfg, SEMSEG_HEAD, cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
        )
        return ret

    def losses(self, predictions, targets):
        predictions = F.interpolate(
            predictions.float(),
            scale_factor=self.common_stride,
            mode="bilinear",
            align_corners=False,
        )
        loss = dense_loss(self.seg_loss, predictions, targets, self.ignore_value)
        return {"loss_sem_seg": loss * self.loss_weight}
