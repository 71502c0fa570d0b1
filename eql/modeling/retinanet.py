"""RetinaNet with an eql classification loss (MODEL.EQL.LOSS "focal" or "efl")."""

from typing import List

import torch
from detectron2.config import configurable
from detectron2.layers import cat
from detectron2.modeling import META_ARCH_REGISTRY
from detectron2.modeling.box_regression import _dense_box_regression_loss
from detectron2.modeling.meta_arch.retinanet import RetinaNet
from detectron2.structures import ImageList, Instances
from detectron2.utils.events import get_event_storage

from ..errors import ConfigError
from ..losses import ClassificationLoss, LossContext
from .heads import DENSE_HEAD
from .losses import build_classification_loss


@META_ARCH_REGISTRY.register()
class EQLRetinaNet(RetinaNet):
    """detectron2's RetinaNet whose classification loss is ``cls_loss`` (C logits per anchor),
    called on the anchors that are not ignored, with RetinaNet's normaliser (its running average
    of positive anchors) in the context; scores at inference are the loss's ``probabilities``.
    With MODEL.EQL.LOSS "focal" it trains as detectron2's RetinaNet."""

    eql_head = DENSE_HEAD  # eql/modeling/heads.py

    @configurable
    def __init__(self, *, cls_loss: ClassificationLoss, **kwargs):
        super().__init__(**kwargs)
        if cls_loss.objectness or cls_loss.num_classes != self.num_classes:
            raise ConfigError(
                f"RetinaNet's head has {self.num_classes} class logits per anchor; the loss needs "
                f"{cls_loss.num_logits}"
            )
        self.cls_loss = cls_loss
        # detectron2 keeps its running normaliser in a python attribute, lost on resume; here it
        # is a buffer (in checkpoints). -1: not started (the first update starts from 100).
        self.register_buffer("loss_normalizer_ema", torch.tensor(-1.0, dtype=torch.float64))

    @classmethod
    def from_config(cls, cfg):
        ret = super().from_config(cfg)
        ret["cls_loss"] = build_classification_loss(
            cfg, DENSE_HEAD, cfg.MODEL.RETINANET.NUM_CLASSES
        )
        return ret

    def _ema_update(self, name: str, value: float, initial_value: float, momentum: float = 0.9):
        """detectron2's update of the running normaliser, kept in ``loss_normalizer_ema``."""
        if name != "loss_normalizer":
            return super()._ema_update(name, value, initial_value, momentum)
        old = float(self.loss_normalizer_ema)
        old = initial_value if old < 0 else old
        new = old * momentum + value * (1 - momentum)
        self.loss_normalizer_ema.fill_(new)
        return new

    def losses(self, anchors, pred_logits, gt_labels, pred_anchor_deltas, gt_boxes):
        """As detectron2's RetinaNet.losses, with ``self.cls_loss`` for the classification."""
        num_images = len(gt_labels)
        gt_labels = torch.stack(gt_labels)  # (N, R), -1 ignored, C background
        valid_mask = gt_labels >= 0
        pos_mask = valid_mask & (gt_labels != self.num_classes)
        num_pos_anchors = pos_mask.sum().item()
        get_event_storage().put_scalar("num_pos_anchors", num_pos_anchors / num_images)
        normalizer = self._ema_update("loss_normalizer", max(num_pos_anchors, 1), 100)
        loss_cls = self.cls_loss(
            cat(pred_logits, dim=1)[valid_mask],
            gt_labels[valid_mask],
            LossContext(normalizer=normalizer),
        )
        loss_box_reg = _dense_box_regression_loss(
            anchors,
            self.box2box_transform,
            pred_anchor_deltas,
            gt_boxes,
            pos_mask,
            box_reg_loss_type=self.box_reg_loss_type,
            smooth_l1_beta=self.smooth_l1_beta,
        )
        return {"loss_cls": loss_cls, "loss_box_reg": loss_box_reg / normalizer}

    def forward_inference(
        self, images: ImageList, features: List[torch.Tensor], predictions: List[List[torch.Tensor]]
    ):
        pred_logits, pred_anchor_deltas = self._transpose_dense_predictions(
            predictions, [self.num_classes, 4]
        )
        anchors = self.anchor_generator(features)
        results: List[Instances] = []
        for i, image_size in enumerate(images.image_sizes):
            scores = [self.cls_loss.probabilities(x[i]).to(x.dtype) for x in pred_logits]
            deltas = [x[i] for x in pred_anchor_deltas]
            results.append(self.inference_single_image(anchors, scores, deltas, image_size))
        return results
