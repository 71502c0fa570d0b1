# eql's RetinaNet R-50-FPN for LVIS v1: detectron2's common RetinaNet with eql's EQLRetinaNet,
# whose loss is an explicit L(classification_loss)(...), as configs/Base-EQL-RetinaNet.yaml.
from detectron2.config import LazyCall as L
from detectron2.model_zoo import get_config

from eql.engine.lazy import classification_loss
from eql.modeling.retinanet import EQLRetinaNet

model = get_config("common/models/retinanet.py").model
model._target_ = EQLRetinaNet
model.num_classes = 1203
model.backbone.bottom_up.stages.depth = 50
model.smooth_l1_beta = 0.0
model.test_score_thresh = 0.0001  # LVIS: keep low-scoring detections of rare classes
model.test_topk_candidates = 1000
model.max_detections_per_image = 300
model.cls_loss = L(classification_loss)(
    name="focal", num_classes="${..num_classes}", head="dense", train_datasets=("lvis_v1_train",)
)
