from .fast_rcnn import EQLFastRCNNOutputLayers
from .image_labels import ImageLabels, image_labels_from_inputs
from .losses import CLASSIFICATION_LOSS_REGISTRY, build_classification_loss
from .meta_arch import EQLGeneralizedRCNN
from .retinanet import EQLRetinaNet
from .roi_heads import EQLCascadeROIHeads, EQLROIHeadsMixin, EQLStandardROIHeads
from .semantic_seg import EQLSemSegFPNHead
