"""ROI heads whose box predictors use eql's losses and are given each image's LVIS label sets.

The label sets travel as an argument: ``forward(..., image_labels=...)`` -> the box branch ->
``predictor.losses(predictions, proposals, image_labels)``. Inference is detectron2's.
"""

import copy

import torch
from detectron2.modeling import ROI_HEADS_REGISTRY, StandardROIHeads
from detectron2.modeling.roi_heads.cascade_rcnn import CascadeROIHeads
from detectron2.structures import Boxes
from detectron2.utils.events import get_event_storage

from .fast_rcnn import EQLFastRCNNOutputLayers
from .heads import ROI_HEAD
from .losses import build_classification_loss


def without_detectron2_fed_loss(cfg):
    """``cfg`` for detectron2's own box-head builders, whose predictors eql replaces: the
    federated loss is the eql loss's (detectron2's predictor would insist on USE_SIGMOID_CE)."""
    if not cfg.MODEL.ROI_BOX_HEAD.USE_FED_LOSS:
        return cfg
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.ROI_BOX_HEAD.USE_FED_LOSS = False
    return cfg


class EQLROIHeadsMixin:
    """ROI heads whose training ``forward`` takes ``image_labels`` (list[ImageLabels], one per
    image, or None) and hands them to the box predictors' losses. Subclasses implement
    ``_box_losses(features, proposals, targets, image_labels)``."""

    eql_head = ROI_HEAD  # eql/modeling/heads.py
    accepts_image_labels = True

    def forward(self, images, features, proposals, targets=None, image_labels=None):
        if not self.training:
            return super().forward(images, features, proposals, targets)
        assert targets, "'targets' argument is required during training"
        proposals = self.label_and_sample_proposals(proposals, targets)
        losses = self._box_losses(features, proposals, targets, image_labels)
        losses.update(self._forward_mask(features, proposals))
        losses.update(self._forward_keypoint(features, proposals))
        return proposals, losses


@ROI_HEADS_REGISTRY.register()
class EQLStandardROIHeads(EQLROIHeadsMixin, StandardROIHeads):
    """StandardROIHeads with an :class:`EQLFastRCNNOutputLayers` box predictor."""

    @classmethod
    def _init_box_head(cls, cfg, input_shape):
        ret = super()._init_box_head(without_detectron2_fed_loss(cfg), input_shape)
        ret["box_predictor"] = EQLFastRCNNOutputLayers(cfg, ret["box_head"].output_shape)
        return ret

    def _box_losses(self, features, proposals, targets, image_labels):
        features = [features[f] for f in self.box_in_features]
        box_features = self.box_head(
            self.box_pooler(features, [x.proposal_boxes for x in proposals])
        )
        predictions = self.box_predictor(box_features)
        del box_features
        losses = self.box_predictor.losses(predictions, proposals, image_labels)
        if self.train_on_pred_boxes:  # after the losses: the proposals change in place
            with torch.no_grad():
                pred_boxes = self.box_predictor.predict_boxes_for_gt_classes(predictions, proposals)
                for proposals_per_image, boxes in zip(proposals, pred_boxes):
                    proposals_per_image.proposal_boxes = Boxes(boxes)
        return losses


@ROI_HEADS_REGISTRY.register()
class EQLCascadeROIHeads(EQLROIHeadsMixin, CascadeROIHeads):
    """CascadeROIHeads where every stage's box predictor is an :class:`EQLFastRCNNOutputLayers`
    (with that stage's box regression weights) with its own copy of the loss (and of its
    statistics, for a stateful loss)."""

    @classmethod
    def _init_box_head(cls, cfg, input_shape):
        ret = super()._init_box_head(without_detectron2_fed_loss(cfg), input_shape)
        # the loss is built (and logged) once; each stage gets its own copy
        cls_loss = build_classification_loss(cfg, ROI_HEAD, cfg.MODEL.ROI_HEADS.NUM_CLASSES)
        ret["box_predictors"] = [
            EQLFastRCNNOutputLayers(
                cfg,
                head.output_shape,
                box2box_transform=predictor.box2box_transform,
                cls_loss=copy.deepcopy(cls_loss),
            )
            for head, predictor in zip(ret["box_heads"], ret["box_predictors"])
        ]
        return ret

    def _box_losses(self, features, proposals, targets, image_labels):
        """Runs the stages as detectron2's cascade does in training (stage k > 0 on the boxes of
        stage k - 1, matched again), then each stage's losses with the image label sets."""
        features = [features[f] for f in self.box_in_features]
        image_sizes = [x.image_size for x in proposals]
        stages, prev_boxes = [], None
        for k in range(self.num_cascade_stages):
            if k > 0:
                proposals = self._create_proposals_from_boxes(prev_boxes, image_sizes)
                proposals = self._match_and_label_boxes(proposals, k, targets)
            predictions = self._run_stage(features, proposals, k)
            prev_boxes = self.box_predictor[k].predict_boxes(predictions, proposals)
            stages.append((predictions, proposals))
        losses = {}
        storage = get_event_storage()
        for k, (predictions, stage_proposals) in enumerate(stages):
            with storage.name_scope(f"stage{k}"):
                stage_losses = self.box_predictor[k].losses(
                    predictions, stage_proposals, image_labels
                )
            losses.update({f"{name}_stage{k}": v for name, v in stage_losses.items()})
        return losses
