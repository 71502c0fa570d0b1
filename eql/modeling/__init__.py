from .fast_rcnn import EQLFastRCNNOutputLayers
from .image_labels import ImageLabels, ImageLabelsROIHeadsMixin, proposal_class_mask
from .meta_arch import EQLGeneralizedRCNN
from .roi_heads import EQLCascadeROIHeads, EQLStandardROIHeads
