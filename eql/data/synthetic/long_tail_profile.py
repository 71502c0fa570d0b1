"""Class profiles that follow LVIS v1's own long tail, scaled down to a small benchmark set.

LVIS v1 train bins its classes by training images: rare 1-10, common 11-100, frequent > 100
(337 / 461 / 405 of 1,203 classes). :func:`lvis_v1_profile_counts` gives ``num_classes`` image
counts in those proportions whose values are LVIS v1's own, read at evenly spaced quantiles of
each bin (its smallest and largest included): rare and common counts as they are (the bins' edges
are absolute), frequent counts mapped log-linearly from LVIS's 101..max (1,977 in detectron2's
copy of the train counts) onto 101..``max_count``, so that a set of a few thousand images can
hold them while keeping the bin's shape.

:func:`target_image_counts` is the generated set's default profile: LVIS's bin proportions with
edges anchored to the set's size (see :mod:`eql.data.synthetic.lvis`).
"""

import math
from typing import Dict, List, Tuple

import numpy as np

from ..lvis_format import lvis_v1_categories

LVIS_BIN_EDGES = (10, 100)  # rare <= 10 < common <= 100 < frequent (training images)
# LVIS v1 train: 337 rare, 461 common, 405 frequent categories.
LVIS_V1_BIN_FRACTIONS = {"r": 337 / 1203, "c": 461 / 1203, "f": 405 / 1203}


def lvis_v1_bin_counts() -> Dict[str, List[int]]:
    """LVIS v1 train's image counts per bin ('r', 'c', 'f'), ascending (detectron2's copies)."""

    out: Dict[str, List[int]] = {"r": [], "c": [], "f": []}
    for c in lvis_v1_categories():
        out[c["frequency"]].append(c["image_count"])
    return {b: sorted(v) for b, v in out.items()}


def lvis_bin(image_count: int) -> str:
    rare_max, common_max = LVIS_BIN_EDGES
    return "r" if image_count <= rare_max else "c" if image_count <= common_max else "f"


def bin_sizes(num_classes: int) -> Dict[str, int]:
    """Classes per bin in LVIS v1's proportions (rounded; the common bin takes the remainder)."""
    total = sum(len(v) for v in lvis_v1_bin_counts().values())
    sizes = {b: round(num_classes * len(v) / total) for b, v in lvis_v1_bin_counts().items()}
    sizes["c"] = num_classes - sizes["r"] - sizes["f"]
    return sizes


def lvis_v1_profile_counts(num_classes: int, max_count: int) -> List[int]:
    """Training image counts of ``num_classes`` classes, most frequent first (see the module
    doc). ``max_count`` (> 100): the most frequent class's count."""
    if num_classes < 3:
        raise ValueError(f"num_classes must be >= 3 (one per bin), got {num_classes}")
    if max_count <= LVIS_BIN_EDGES[1]:
        raise ValueError(f"max_count must be > {LVIS_BIN_EDGES[1]}, got {max_count}")
    lvis = lvis_v1_bin_counts()
    sizes = bin_sizes(num_classes)
    out = []
    for b in ("f", "c", "r"):
        values = np.asarray(lvis[b], dtype=np.float64)
        # evenly spaced quantiles from the bin's smallest to its largest count
        q = np.linspace(0.0, 1.0, sizes[b]) if sizes[b] > 1 else np.array([0.5])
        picked = np.quantile(values, q, method="inverted_cdf")
        if b == "f":
            lo, hi = math.log(LVIS_BIN_EDGES[1] + 1), math.log(values.max())
            scale = (math.log(max_count) - lo) / (hi - lo)
            picked = np.exp(lo + (np.log(picked) - lo) * scale)
            picked = np.maximum(np.round(picked), LVIS_BIN_EDGES[1] + 1)
        out += sorted(int(v) for v in picked)[::-1]
    return out


def bin_edges(num_train_images: int) -> Tuple[int, int]:
    """(rare_max, common_max) image counts for a training set of this size (see module doc)."""
    rare_max = max(1, round(0.01 * num_train_images))
    common_max = max(rare_max + 1, 10 * rare_max)
    return rare_max, common_max


def frequency_of(image_count: int, rare_max: int, common_max: int) -> str:
    if image_count <= rare_max:
        return "r"
    return "c" if image_count <= common_max else "f"


def target_image_counts(num_classes: int, num_train_images: int) -> List[int]:
    """Image count of each class by rank (most frequent first), see the module doc."""
    rare_max, common_max = bin_edges(num_train_images)
    top = max(common_max + 1, int(0.5 * num_train_images))
    n_rare = round(num_classes * LVIS_V1_BIN_FRACTIONS["r"])
    n_freq = round(num_classes * LVIS_V1_BIN_FRACTIONS["f"])
    n_common = num_classes - n_rare - n_freq
    bins = [
        (n_freq, top, common_max + 1),
        (n_common, common_max, rare_max + 1),
        (n_rare, rare_max, 1),
    ]
    counts = []
    for n, hi, lo in bins:
        for k in range(n):
            t = k / (n - 1) if n > 1 else 0.0
            counts.append(int(round(math.exp(math.log(hi) * (1 - t) + math.log(lo) * t))))
    return [min(c, num_train_images) for c in counts]
