# Mask R-CNN R-50-FPN 1x on LVIS v1, Seesaw loss (p 0.8, q 2) with the recipe's cosine classifier
# (scale 20) and objectness logits (LazyConfig twin of
# configs/LVISv1-InstanceSegmentation/seesaw_mask_rcnn_R_50_FPN_1x.yaml).
from ..common.lvis_v1 import dataloader, lr_multiplier, optimizer, train
from ..common.mask_rcnn_fpn import model

model.roi_heads.box_predictor.cls_loss.name = "seesaw"
model.roi_heads.box_predictor.prior_prob = 0.0  # a softmax loss
model.roi_heads.box_predictor.classifier = "cosine"
model.roi_heads.box_predictor.cosine_scale = 20.0
