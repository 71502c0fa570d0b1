"""ROI heads whose box predictors use eql's losses and see the LVIS image-level label sets."""

import copy

from detectron2.modeling import ROI_HEADS_REGISTRY, StandardROIHeads
from detectron2.modeling.roi_heads.cascade_rcnn import CascadeROIHeads

from .classification_loss import build_classification_loss
from .fast_rcnn import EQLFastRCNNOutputLayers
from .image_labels import ImageLabelsROIHeadsMixin


@ROI_HEADS_REGISTRY.register()
class EQLStandardROIHeads(ImageLabelsROIHeadsMixin, StandardROIHeads):
    """StandardROIHeads with an :class:`EQLFastRCNNOutputLayers` box predictor."""

    @classmethod
    def _init_box_head(cls, cfg, input_shape):
        ret = super()._init_box_head(cfg, input_shape)
        ret["box_predictor"] = EQLFastRCNNOutputLayers(cfg, ret["box_head"].output_shape)
        return ret


@ROI_HEADS_REGISTRY.register()
class EQLCascadeROIHeads(ImageLabelsROIHeadsMixin, CascadeROIHeads):
    """CascadeROIHeads where every stage's box predictor is an :class:`EQLFastRCNNOutputLayers`
    (with that stage's box regression weights)."""

    @classmethod
    def _init_box_head(cls, cfg, input_shape):
        ret = super()._init_box_head(cfg, input_shape)
        # the loss is built (and its tail logged) once; each stage gets its own copy, so that a
        # stateful loss keeps per-stage state
        cls_loss = build_classification_loss(cfg)
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
