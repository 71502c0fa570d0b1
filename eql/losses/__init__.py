"""Classification losses for long-tailed recognition, in pure torch (no detectron2).

Every loss is called as ``loss(logits, gt_classes, context)`` (eql/losses/base.py)."""

from .base import ClassificationLoss, GradientRecord, positive_negative_sums
from .context import ImageLabels, LossContext, image_index_of_rows
from .dense_softmax import dense_loss, dense_softmax_ce
from .efl import EqualizedFocalLoss, efl_focusing
from .eql import SigmoidEQL, eql_weights, sigmoid_eql_loss
from .eqlv2 import EQLv2, eqlv2_class_weights, eqlv2_loss
from .federated import FederatedSampler, federated_classes
from .focal import SigmoidFocalLoss, focal_loss_with_statistics, sigmoid_focal_loss
from .registry import LOSSES, register_loss
from .seesaw import SeesawLoss, seesaw_weights
from .seql import SoftmaxEQL, softmax_eql_loss, softmax_eql_weights
from .sigmoid_ce import SigmoidCrossEntropy, weighted_sigmoid_cross_entropy
from .softmax_ce import SoftmaxCrossEntropy
from .softmax_eql import GradientSoftmaxEQL
from .suppression import SUPPRESSION_FUNCTIONS, suppression_strength
