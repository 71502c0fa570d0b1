"""The classification losses selectable with MODEL.EQL.LOSS: each loss's entry is the file of its
name in this folder, found and imported here (registration), so that adding a loss touches no
list (docs/adding_a_loss.md)."""

import importlib
import pkgutil

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
from .statistics import train_set_image_counts, training_category_stats

# every module of the folder (the entries, and the helpers they share)
MODULES = tuple(
    importlib.import_module(f"{__name__}.{module.name}")
    for module in pkgutil.iter_modules(__path__)
)
