"""Category statistics of the training set, for the losses that need class frequencies."""

from typing import List, Tuple

from ...data.category_stats import CategoryStats, frequency_bin, load_stats_file
from ...data.lvis_format import get_category_stats
from ...errors import ConfigError
from ..heads import num_classes_key


def training_category_stats(cfg, num_classes: int) -> CategoryStats:
    """The category statistics behind the losses: MODEL.EQL.FREQUENCY_SOURCE (a category-count
    or LVIS json), else the statistics of DATASETS.TRAIN (summed over the listed datasets, bins
    recomputed from the summed counts when there are several)."""

    source = cfg.MODEL.EQL.FREQUENCY_SOURCE
    if source and source not in ("dataset", "none"):
        stats: List[CategoryStats] = [load_stats_file(source)]
    else:
        if not cfg.DATASETS.TRAIN:
            raise ConfigError(
                "MODEL.EQL.FREQUENCY_SOURCE: 'dataset' needs DATASETS.TRAIN (or give a "
                "category-count json)"
            )
        stats = [get_category_stats(name) for name in cfg.DATASETS.TRAIN]
    for s in stats:
        if s.num_classes != num_classes:
            raise ConfigError(
                f"category statistics of {s.source or 'the training set'} have {s.num_classes} "
                f"classes, the model has {num_classes} ({num_classes_key(cfg)})"
            )
    if len(stats) == 1:
        return stats[0]
    counts = [sum(s.image_count[j] for s in stats) for j in range(num_classes)]
    return CategoryStats(
        category_ids=list(stats[0].category_ids),
        image_count=counts,
        num_images_with_annotations=sum(s.num_images_with_annotations for s in stats),
        frequency=[frequency_bin(n) for n in counts],
        source=" + ".join(s.source for s in stats),
    )


def train_set_image_counts(cfg, num_classes: int) -> Tuple[List[int], int]:
    """(image count per class, number of annotated images) of the training set(s)."""
    stats = training_category_stats(cfg, num_classes)
    return list(stats.image_count), stats.num_images_with_annotations
