# Mask R-CNN R-50-FPN 1x on LVIS v1, Equalization Loss (LazyConfig twin of
# configs/LVISv1-InstanceSegmentation/eql_mask_rcnn_R_50_FPN_1x.yaml).
from ..common.lvis_v1 import dataloader, lr_multiplier, optimizer, train
from ..common.mask_rcnn_fpn import model

model.roi_heads.box_predictor.cls_loss.name = "eql"
model.roi_heads.box_predictor.cls_loss.keys = {"MODEL.EQL.EQL.LAMBDA": 0.0011}  # 815 tail classes
