"""LVIS metrics from two engines: lvis-api (the reference, pure Python) and faster-coco-eval's
LVIS mode (C++, run per category group: :mod:`.faster_lvis`). Both see the same detections: at
most ``max_dets_per_image`` per image, the top-scoring ones across classes, as lvis-api keeps them.

An engine returns :class:`LVISMetrics`: the 13 summary metrics of lvis-api (in [0, 1]) and the
per-category AP (NaN where a category has no ground truth in the evaluated images).
"""

import contextlib
import logging
from typing import Dict, List

import numpy as np

from .detections import Detections, as_detections
from .faster_lvis import evaluate_with_faster_coco_eval
from .lvis_metrics import (
    LVIS_MAX_DETS_PER_IMAGE,
    SUMMARY_METRICS,
    LVISMetrics,
    Results,
    category_ap,
    empty_metrics,
)

logger = logging.getLogger(__name__)

ENGINES = ("faster_coco_eval", "lvis_api")


@contextlib.contextmanager
def numpy_float_alias():
    """lvis-api 0.5.3 calls ``np.float``, removed in numpy 1.24; alias it while lvis-api runs."""
    added = "float" not in np.__dict__
    if added:
        np.float = float  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if added:
            del np.float


def lvis_api_results(dets: Detections, iou_type: str) -> List[Dict]:
    """Result dicts for lvis-api (which annotates them: ids, areas, ...). For segm the boxes are
    dropped so that areas (small / medium / large) and boxes come from the masks, as detectron2
    does."""
    rows = dets.to_dicts()
    if iou_type == "segm":
        for r in rows:
            del r["bbox"]
    return rows


def evaluate_with_lvis_api(
    gt, results: Results, iou_type: str, max_dets_per_image: int = LVIS_MAX_DETS_PER_IMAGE
) -> LVISMetrics:
    """lvis-api's LVISEval. ``gt``: a json path or an ``lvis.LVIS``."""
    with numpy_float_alias():
        from lvis import LVIS, LVISEval, LVISResults

        gt_api = LVIS(gt) if isinstance(gt, str) else gt
        dets = lvis_api_results(as_detections(results), iou_type)
        cat_ids = sorted(gt_api.get_cat_ids())
        if not dets:
            return empty_metrics(cat_ids, max_dets_per_image)
        # lvis-api applies its own per-image cap: it is the reference for ours
        dt_api = LVISResults(gt_api, dets, max_dets=max_dets_per_image)
        ev = LVISEval(gt_api, dt_api, iou_type)
        ev.params.max_dets = max_dets_per_image if max_dets_per_image >= 0 else -1
        ev.run()
        summary = {k: float(v) for k, v in ev.get_results().items()}
        return LVISMetrics(summary, cat_ids, category_ap(ev.eval["precision"]))


def evaluate_lvis(
    gt,
    results: Results,
    iou_type: str,
    engine: str = "faster_coco_eval",
    max_dets_per_image: int = LVIS_MAX_DETS_PER_IMAGE,
) -> LVISMetrics:
    """LVIS metrics of ``results`` (LVIS result dicts) on ``gt`` with the named engine."""
    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"iou_type must be 'bbox' or 'segm', got {iou_type!r}")
    dets = as_detections(results)
    if iou_type == "segm" and len(dets) and not dets.has_masks:
        raise ValueError("segm evaluation needs results with a 'segmentation'")
    if engine == "faster_coco_eval":
        return evaluate_with_faster_coco_eval(gt, dets, iou_type, max_dets_per_image)
    if engine == "lvis_api":
        return evaluate_with_lvis_api(gt, dets, iou_type, max_dets_per_image)
    raise ValueError(f"unknown LVIS evaluation engine {engine!r}; choose one of {list(ENGINES)}")


__all__ = [
    "ENGINES",
    "LVISMetrics",
    "LVIS_MAX_DETS_PER_IMAGE",
    "SUMMARY_METRICS",
    "evaluate_lvis",
    "evaluate_with_faster_coco_eval",
    "evaluate_with_lvis_api",
    "numpy_float_alias",
]
