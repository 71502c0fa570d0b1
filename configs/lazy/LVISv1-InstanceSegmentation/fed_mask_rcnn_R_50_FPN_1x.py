# Mask R-CNN R-50-FPN 1x on LVIS v1, sigmoid cross-entropy with the federated loss (50 classes
# per batch, negatives sampled by image_count^0.5) (LazyConfig twin of
# configs/LVISv1-InstanceSegmentation/fed_mask_rcnn_R_50_FPN_1x.yaml).
from ..common.lvis_v1 import dataloader, lr_multiplier, optimizer, train
from ..common.mask_rcnn_fpn import model

model.roi_heads.box_predictor.cls_loss.name = "sigmoid_ce"
model.roi_heads.box_predictor.cls_loss.keys = {
    "MODEL.ROI_BOX_HEAD.USE_FED_LOSS": True,
    "MODEL.ROI_BOX_HEAD.FED_LOSS_NUM_CLASSES": 50,
    "MODEL.ROI_BOX_HEAD.FED_LOSS_FREQ_WEIGHT_POWER": 0.5,
}
