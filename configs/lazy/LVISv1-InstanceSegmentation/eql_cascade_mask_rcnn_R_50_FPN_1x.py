# Cascade Mask R-CNN R-50-FPN 1x on LVIS v1, Equalization Loss in every stage (LazyConfig twin of
# configs/LVISv1-InstanceSegmentation/eql_cascade_mask_rcnn_R_50_FPN_1x.yaml).
from ..common.cascade_mask_rcnn_fpn import model
from ..common.lvis_v1 import dataloader, lr_multiplier, optimizer, train

for _predictor in model.roi_heads.box_predictors:
    _predictor.cls_loss.name = "eql"
    _predictor.cls_loss.keys = {"MODEL.EQL.EQL.LAMBDA": 0.0011}
