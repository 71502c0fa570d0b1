from .image_labels import ImageLabels, ImageLabelsROIHeadsMixin, proposal_class_mask
from .meta_arch import EQLGeneralizedRCNN
