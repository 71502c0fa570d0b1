# eql's Mask R-CNN R-50-FPN for LVIS v1 as a LazyConfig: detectron2's common Mask R-CNN
# (model_zoo "common/models/mask_rcnn_fpn.py") with eql's meta-architecture, ROI heads and box
# predictor, whose loss is an explicit L(classification_loss)(...). The settings of the yaml
# twins (configs/LVISv1-InstanceSegmentation/Base-LVISv1-Mask-RCNN.yaml) are written out.
from detectron2.config import LazyCall as L
from detectron2.model_zoo import get_config

from eql.engine.lazy import classification_loss
from eql.modeling.fast_rcnn import EQLFastRCNNOutputLayers
from eql.modeling.meta_arch import EQLGeneralizedRCNN
from eql.modeling.roi_heads import EQLStandardROIHeads

model = get_config("common/models/mask_rcnn_fpn.py").model
model._target_ = EQLGeneralizedRCNN  # hands LVIS image-level label sets to the ROI heads
model.backbone.bottom_up.stages.depth = 50
model.roi_heads._target_ = EQLStandardROIHeads
model.roi_heads.num_classes = 1203
model.roi_heads.box_predictor._target_ = EQLFastRCNNOutputLayers
model.roi_heads.box_predictor.test_score_thresh = 0.0001
model.roi_heads.box_predictor.test_topk_per_image = 300  # LVIS allows up to 300
model.roi_heads.box_predictor.prior_prob = 0.001  # class biases start at p = 0.001 (sigmoid)
model.roi_heads.box_predictor.cls_loss = L(classification_loss)(
    name="sigmoid_ce",
    num_classes="${..num_classes}",
    train_datasets=("lvis_v1_train",),
)
