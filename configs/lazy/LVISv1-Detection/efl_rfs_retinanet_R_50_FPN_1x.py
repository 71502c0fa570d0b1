# RetinaNet R-50-FPN 1x on LVIS v1 with repeat factor sampling, Equalized Focal Loss (LazyConfig
# twin of configs/LVISv1-Detection/efl_rfs_retinanet_R_50_FPN_1x.yaml).
from ..common.lvis_v1 import dataloader, lr_multiplier, optimizer, train
from ..common.retinanet import model

model.cls_loss.name = "efl"
dataloader.train.mapper.use_instance_mask = False
dataloader.train.sampler = "RepeatFactorTrainingSampler"
dataloader.train.repeat_threshold = 0.001  # detectron2's LVIS setting
optimizer.lr = 0.01  # RetinaNet's learning rate
