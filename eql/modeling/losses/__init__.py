"""The classification losses selectable with MODEL.EQL.LOSS (one file each, registered)."""

from . import (  # noqa: F401  (registration)
    efl,
    eqlv2,
    focal,
    seesaw,
    sigmoid_ce,
    sigmoid_eql,
    softmax_eql,
    softmax_seg,
)
from .registry import (
    CLASSIFICATION_LOSS_REGISTRY,
    DENSE_HEAD,
    ROI_HEAD,
    SEMSEG_HEAD,
    InferenceOnlyLoss,
    LossEntry,
    build_classification_loss,
    check_head,
    get_loss_entry,
)
from .sigmoid_eql import eql_lambda, suppression_from_config
from .statistics import train_set_image_counts, training_category_stats
