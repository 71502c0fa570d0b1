"""LVIS metrics from two engines: lvis-api (the reference, pure Python) and faster-coco-eval's
LVIS mode (C++, run per category group: :mod:`.faster_lvis`). Both see the same detections: at
most ``max_dets_per_image`` per image, the top-scoring ones across classes, as lvis-api keeps them.

An engine returns :class:`LVISMetrics`: the 13 summary metrics of lvis-api (in [0, 1]) and the
per-category AP (NaN where a category has no ground truth in the evaluated images).
"""

import contextlib
import json
import logging
import os
import tempfile
from typing import Dict, List

import numpy as np

from .detections import Detections
from .faster_lvis import evaluate_with_faster_coco_eval, faster_ground_truth
from .lvis_inputs import (
    check_ground_truth,
    check_results,
    has_ignore_flags,
    results_for,
)
from .lvis_metrics import (
    LVIS_MAX_DETS_PER_IMAGE,
    SUMMARY_METRICS,
    LVISMetrics,
    Results,
    category_ap,
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


def lvis_api_ground_truth(gt):
    """An ``lvis.LVIS``: ``gt`` itself, or read from a json path, a dataset dict or a
    ``faster_coco_eval.COCO`` (these two through a temporary json: lvis-api reads only files);
    checked (:func:`.lvis_inputs.check_ground_truth`)."""
    from lvis import LVIS

    if isinstance(gt, LVIS):
        api = gt
    elif isinstance(gt, str):
        api = LVIS(gt)
    else:
        fd, path = tempfile.mkstemp(suffix=".json")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(gt if isinstance(gt, dict) else gt.dataset, f)
            api = LVIS(path)
        finally:
            os.unlink(path)
    check_ground_truth(api.dataset, gt if isinstance(gt, str) else "given")
    return api


def nothing_to_score_results(gt_api, iou_type: str) -> List[Dict]:
    """One result that lvis-api drops (area 0), so that it evaluates no result at all: lvis-api
    cannot take an empty result list (``LVISResults`` reads ``results[0]``)."""
    img = gt_api.dataset["images"][0]
    row = {
        "image_id": img["id"],
        "category_id": sorted(gt_api.get_cat_ids())[0],
        "bbox": [0.0, 0.0, 0.0, 0.0],
        "score": 0.0,
    }
    if iou_type == "segm":
        import pycocotools.mask as mask_util

        h, w = int(img["height"]), int(img["width"])
        rle = mask_util.encode(np.zeros((h, w, 1), np.uint8, order="F"))[0]
        del row["bbox"]
        row["segmentation"] = {"size": [h, w], "counts": rle["counts"].decode("ascii")}
    return [row]


def evaluate_with_lvis_api(
    gt, results: Results, iou_type: str, max_dets_per_image: int = LVIS_MAX_DETS_PER_IMAGE
) -> LVISMetrics:
    """lvis-api's LVISEval. ``gt``: a json path, an ``lvis.LVIS``, a dataset dict or a
    ``faster_coco_eval.COCO``."""
    with numpy_float_alias():
        from lvis import LVISEval, LVISResults

        gt_api = lvis_api_ground_truth(gt)
        dets = results_for(results, iou_type)
        cat_ids = sorted(gt_api.get_cat_ids())
        check_results(dets, gt_api.dataset, iou_type)
        rows = lvis_api_results(dets, iou_type) or nothing_to_score_results(gt_api, iou_type)
        # lvis-api applies its own per-image cap: it is the reference for ours
        dt_api = LVISResults(gt_api, rows, max_dets=max_dets_per_image)
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
    """LVIS metrics of ``results`` (LVIS result dicts or :class:`Detections`) on ``gt`` with the
    named engine; both give lvis-api's metrics on every input (:mod:`.lvis_inputs`). ``gt``: a
    json path, a dataset dict, or the engine's own ground-truth object."""
    dets = results_for(results, iou_type)
    if engine == "faster_coco_eval":
        gt_api = faster_ground_truth(gt)
        if not has_ignore_flags(gt_api.dataset):
            return evaluate_with_faster_coco_eval(gt_api, dets, iou_type, max_dets_per_image)
        logger.warning(
            "the ground truth has annotations with an 'ignore' flag, which faster-coco-eval does "
            "not honour: evaluated with lvis-api"
        )
        gt = gt_api
    elif engine != "lvis_api":
        raise ValueError(
            f"unknown LVIS evaluation engine {engine!r}; choose one of {list(ENGINES)}"
        )
    return evaluate_with_lvis_api(gt, dets, iou_type, max_dets_per_image)


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
