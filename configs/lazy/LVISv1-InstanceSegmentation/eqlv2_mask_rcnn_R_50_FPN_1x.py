# Mask R-CNN R-50-FPN 1x on LVIS v1, Equalization Loss v2 (LazyConfig twin of
# configs/LVISv1-InstanceSegmentation/eqlv2_mask_rcnn_R_50_FPN_1x.yaml).
from ..common.lvis_v1 import dataloader, lr_multiplier, optimizer, train
from ..common.mask_rcnn_fpn import model

model.roi_heads.box_predictor.cls_loss.name = "eqlv2"
model.roi_heads.box_predictor.prior_prob = 0.0  # zero class biases, as the official EQLv2 code
