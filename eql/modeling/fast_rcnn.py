"""The box predictor of eql: detectron2's FastRCNNOutputLayers whose classification loss and
scores come from a registered eql loss (MODEL.EQL.LOSS), called with an explicit LossContext."""

import math
from typing import List, Optional

import torch
from detectron2.config import configurable
from detectron2.layers import cat
from detectron2.modeling.roi_heads.fast_rcnn import (
    FastRCNNOutputLayers,
    _log_classification_stats,
)
from torch import nn

from ..errors import ConfigError
from ..losses import ClassificationLoss, ImageLabels, LossContext, image_index_of_rows
from .cosine_classifier import CosineClassifier
from .heads import ROI_HEAD
from .losses import build_classification_loss


class EQLFastRCNNOutputLayers(FastRCNNOutputLayers):
    """FastRCNNOutputLayers with an eql classification loss.

    ``cls_score`` keeps detectron2's C + 1 outputs (more when the loss reads more: Seesaw's C + 2):
    after the C class logits come the loss's objectness logits (EQLv2: 1, Seesaw: 2), else a dummy
    that gets no loss (as in detectron2's sigmoid CE). ``classifier`` "cosine" makes it a scaled
    cosine classifier (the Seesaw recipe's). The loss reads its ``num_logits`` columns;
    :meth:`predict_probs` returns its ``probabilities`` (and a zero background column, which
    detectron2's inference drops).
    """

    @configurable
    def __init__(
        self,
        input_shape,
        *,
        cls_loss: ClassificationLoss,
        prior_prob: float = 0.0,
        classifier: str = "linear",
        cosine_scale: float = 20.0,
        **kwargs,
    ):
        super().__init__(input_shape, **kwargs)
        if cls_loss.num_classes != self.num_classes:
            raise ConfigError(
                f"the loss has {cls_loss.num_classes} classes, the box predictor "
                f"{self.num_classes} (MODEL.ROI_HEADS.NUM_CLASSES)"
            )
        self.cls_loss = cls_loss
        num_outputs = max(self.num_classes + 1, cls_loss.num_logits)
        if classifier == "cosine":
            self.cls_score = CosineClassifier(self.cls_score.in_features, num_outputs, cosine_scale)
        elif num_outputs != self.cls_score.out_features:
            self.cls_score = nn.Linear(self.cls_score.in_features, num_outputs)
            nn.init.normal_(self.cls_score.weight, std=0.01)
            nn.init.constant_(self.cls_score.bias, 0)
        if prior_prob > 0 and not cls_loss.sigmoid:
            raise ConfigError("MODEL.EQL.PRIOR_PROB: a prior probability is for sigmoid losses")
        if prior_prob > 0:
            # every class starts at probability prior_prob (official EQL code: 0.001)
            nn.init.constant_(self.cls_score.bias, -math.log((1 - prior_prob) / prior_prob))
            if cls_loss.objectness:
                nn.init.constant_(self.cls_score.bias[self.num_classes :], 0.0)

    @classmethod
    def from_config(cls, cfg, input_shape, cls_loss=None):
        ret = super().from_config(cfg, input_shape)
        ret.pop("use_sigmoid_ce")  # the loss decides how logits become scores
        for key in ("use_fed_loss", "get_fed_loss_cls_weights", "fed_loss_num_classes"):
            ret.pop(key, None)  # the federated loss is the eql loss's (USE_FED_LOSS)
        if cls_loss is None:
            cls_loss = build_classification_loss(cfg, ROI_HEAD, cfg.MODEL.ROI_HEADS.NUM_CLASSES)
        ret["cls_loss"] = cls_loss
        ret["prior_prob"] = cfg.MODEL.EQL.PRIOR_PROB
        ret["classifier"] = cfg.MODEL.EQL.CLASSIFIER
        ret["cosine_scale"] = cfg.MODEL.EQL.COSINE_SCALE
        return ret

    def losses(self, predictions, proposals, image_labels: Optional[List[ImageLabels]] = None):
        """detectron2's losses, with the classification loss given a :class:`LossContext`: the
        image of every proposal and, when given, the images' LVIS label sets."""
        scores, proposal_deltas = predictions
        if proposals:
            gt_classes = cat([p.gt_classes for p in proposals], dim=0)
            proposal_boxes = cat([p.proposal_boxes.tensor for p in proposals], dim=0)
            gt_boxes = cat(
                [(p.gt_boxes if p.has("gt_boxes") else p.proposal_boxes).tensor for p in proposals],
                dim=0,
            )
        else:
            gt_classes = torch.empty(0, dtype=torch.int64, device=scores.device)
            proposal_boxes = gt_boxes = torch.empty((0, 4), device=proposal_deltas.device)
        _log_classification_stats(scores, gt_classes)
        context = LossContext(
            image_index=image_index_of_rows([len(p) for p in proposals], scores.device),
            image_labels=image_labels,
        )
        losses = {
            "loss_cls": self.cls_loss(scores[:, : self.cls_loss.num_logits], gt_classes, context),
            "loss_box_reg": self.box_reg_loss(
                proposal_boxes, gt_boxes, proposal_deltas, gt_classes
            ),
        }
        return {k: v * self.loss_weight.get(k, 1.0) for k, v in losses.items()}

    def predict_probs(self, predictions, proposals):
        """Per image (R_i, C + 1): the loss's class probabilities and a zero background column."""
        scores, _ = predictions
        probs = self.cls_loss.probabilities(scores[:, : self.cls_loss.num_logits])
        probs = torch.cat([probs, probs.new_zeros(probs.shape[0], 1)], dim=1)
        return probs.split([len(p) for p in proposals], dim=0)
