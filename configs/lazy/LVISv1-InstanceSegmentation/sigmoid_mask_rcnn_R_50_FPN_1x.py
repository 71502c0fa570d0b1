# Mask R-CNN R-50-FPN 1x on LVIS v1, sigmoid cross-entropy baseline (LazyConfig twin of
# configs/LVISv1-InstanceSegmentation/sigmoid_mask_rcnn_R_50_FPN_1x.yaml).
from ..common.lvis_v1 import dataloader, lr_multiplier, optimizer, train
from ..common.mask_rcnn_fpn import model

model.roi_heads.box_predictor.cls_loss.name = "sigmoid_ce"
