"""The box predictor of eql: detectron2's FastRCNNOutputLayers with sigmoid scores and an eql
classification loss (EQL or sigmoid CE) that sees each image's LVIS label sets."""

import logging
import math
from typing import List, Optional

import torch
from detectron2.config import configurable
from detectron2.modeling.roi_heads.fast_rcnn import FastRCNNOutputLayers
from torch import nn

from .classification_loss import build_classification_loss
from .image_labels import ImageLabels, proposal_class_mask

logger = logging.getLogger(__name__)


class EQLFastRCNNOutputLayers(FastRCNNOutputLayers):
    """FastRCNNOutputLayers whose ``loss_cls`` is ``cls_loss(logits (N, C), gt_classes (N,),
    exempt (N, C) or None)``. Scores are sigmoids at inference (the background column of
    ``cls_score`` is a dummy, as in detectron2's sigmoid CE: it gets no loss).

    ``image_labels`` (list[ImageLabels], set by the ROI heads during a training call) gives the
    classes exempt from suppression: each proposal's image's positive and negative sets, when
    ``use_image_labels``.
    """

    @configurable
    def __init__(
        self,
        input_shape,
        *,
        cls_loss: nn.Module,
        prior_prob: float = 0.0,
        use_image_labels: bool = True,
        **kwargs,
    ):
        kwargs["use_sigmoid_ce"] = True
        super().__init__(input_shape, **kwargs)
        self.cls_loss = cls_loss
        self.use_image_labels = use_image_labels
        self.image_labels: Optional[List[ImageLabels]] = None
        self._proposals_per_image: Optional[List[int]] = None
        if prior_prob > 0:
            # every class starts at probability prior_prob (official EQL code: 0.001)
            nn.init.constant_(self.cls_score.bias, -math.log((1 - prior_prob) / prior_prob))

    @classmethod
    def from_config(cls, cfg, input_shape, cls_loss=None):
        ret = super().from_config(cfg, input_shape)
        ret.pop("use_sigmoid_ce")
        ret["cls_loss"] = cls_loss if cls_loss is not None else build_classification_loss(cfg)
        ret["prior_prob"] = cfg.MODEL.EQL.PRIOR_PROB
        ret["use_image_labels"] = cfg.MODEL.EQL.USE_IMAGE_LEVEL_LABELS
        return ret

    def losses(self, predictions, proposals):
        self._proposals_per_image = [len(p) for p in proposals]
        try:
            return super().losses(predictions, proposals)
        finally:
            self._proposals_per_image = None

    def exempt_mask(self, num_proposals: int) -> Optional[torch.Tensor]:
        """(R, C) bool: classes in the positive or negative set of each proposal's image."""
        if not self.use_image_labels or self.image_labels is None:
            return None
        counts = self._proposals_per_image
        if counts is None or sum(counts) != num_proposals or len(counts) != len(self.image_labels):
            raise RuntimeError("image_labels do not match the proposals of this batch")
        return proposal_class_mask(self.image_labels, counts, self.num_classes)

    def sigmoid_cross_entropy_loss(self, pred_class_logits, gt_classes):
        """Called by detectron2's ``losses``; logits (R, C + 1), gt_classes (R,)."""
        logits = pred_class_logits[:, : self.num_classes]
        return self.cls_loss(logits, gt_classes, self.exempt_mask(logits.shape[0]))
