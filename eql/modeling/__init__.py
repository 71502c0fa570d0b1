"""eql's detectron2 parts: the heads whose classification loss is MODEL.EQL.LOSS, registered in
detectron2's registries when imported, and the loss registry (eql/modeling/losses)."""

from .fast_rcnn import EQLFastRCNNOutputLayers
from .heads import (
    DENSE_HEAD,
    HEAD_KINDS,
    ROI_HEAD,
    SEMSEG_HEAD,
    loss_head_of,
    model_head_kind,
    model_num_classes,
)
from .image_labels import ImageLabels, image_labels_from_inputs
from .losses import CLASSIFICATION_LOSS_REGISTRY, build_classification_loss
from .meta_arch import EQLGeneralizedRCNN
from .retinanet import EQLRetinaNet
from .roi_heads import EQLCascadeROIHeads, EQLROIHeadsMixin, EQLStandardROIHeads
from .semantic_seg import EQLSemSegFPNHead
