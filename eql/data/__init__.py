import os as _os

from .category_stats import CategoryStats, compute_category_stats, tail_ratio
from .lvis_format import (
    DatasetFormatError,
    get_category_stats,
    load_lvis_format_json,
    register_lvis_format_dataset,
    register_synthetic_lvis,
    reregister_builtin_lvis,
)
from .synthetic import generate_synthetic_lvis, generate_synthetic_semseg, register_synthetic_semseg

reregister_builtin_lvis()
# the set that datasets/prepare_synthetic_lvis.py writes by default
register_synthetic_lvis(
    _os.path.join(
        _os.path.expanduser(_os.getenv("DETECTRON2_DATASETS", "datasets")), "synthetic_lvis"
    )
)
