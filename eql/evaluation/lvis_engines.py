"""LVIS metrics from two engines: lvis-api (the reference, pure Python) and faster-coco-eval's LVIS
mode (C++). Both see the same detections: at most ``max_dets_per_image`` per image, the
top-scoring ones across classes, as lvis-api keeps them.

An engine returns :class:`LVISMetrics`: the 13 summary metrics of lvis-api (in [0, 1]) and the
per-category AP (NaN where a category has no ground truth in the evaluated images).
"""

import contextlib
import copy
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, List, Sequence

import numpy as np

logger = logging.getLogger(__name__)

SUMMARY_METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf")
ENGINES = ("faster_coco_eval", "lvis_api")
LVIS_MAX_DETS_PER_IMAGE = 300


@dataclass
class LVISMetrics:
    """summary: metric name -> value in [0, 1] (AP..., AR@k, ARs@k, ARm@k, ARl@k);
    category_ids (K,) and category_ap (K,) with NaN for categories without ground truth."""

    summary: Dict[str, float]
    category_ids: List[int]
    category_ap: np.ndarray


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


def cap_detections_per_image(results: Sequence[Dict], max_dets: int) -> List[Dict]:
    """The ``max_dets`` top-scoring detections of each image (all of them if max_dets < 0), in
    lvis-api's order and tie-breaking (stable sort by descending score)."""
    if max_dets < 0:
        return list(results)
    per_image = defaultdict(list)
    for r in results:
        per_image[r["image_id"]].append(r)
    out = []
    for dets in per_image.values():
        if len(dets) > max_dets:
            dets = sorted(dets, key=lambda d: d["score"], reverse=True)[:max_dets]
        out.extend(dets)
    return out


def _results_for(results: Sequence[Dict], iou_type: str) -> List[Dict]:
    """A copy of the results the engines may annotate; for segm the boxes are dropped so that
    areas (small / medium / large) and boxes come from the masks, as detectron2 does."""
    results = copy.deepcopy(list(results))
    if iou_type == "segm":
        for r in results:
            r.pop("bbox", None)
    return results


def _category_ap(precision: np.ndarray) -> np.ndarray:
    """(K,) AP from a precision array (T, R, K, A[, M]) at area 'all' (and the last max-dets)."""
    p = precision[:, :, :, 0] if precision.ndim == 4 else precision[:, :, :, 0, -1]
    out = np.full(p.shape[2], np.nan)
    for k in range(p.shape[2]):
        valid = p[:, :, k][p[:, :, k] > -1]
        if valid.size:
            out[k] = float(np.mean(valid))
    return out


def evaluate_with_lvis_api(
    gt, results: Sequence[Dict], iou_type: str, max_dets_per_image: int = LVIS_MAX_DETS_PER_IMAGE
) -> LVISMetrics:
    """lvis-api's LVISEval. ``gt``: a json path or an ``lvis.LVIS``."""
    with numpy_float_alias():
        from lvis import LVIS, LVISEval, LVISResults

        gt_api = LVIS(gt) if isinstance(gt, str) else gt
        dets = _results_for(results, iou_type)
        cat_ids = sorted(gt_api.get_cat_ids())
        if not dets:
            return _empty_metrics(cat_ids, max_dets_per_image)
        # lvis-api applies its own per-image cap: it is the reference for ours
        dt_api = LVISResults(gt_api, dets, max_dets=max_dets_per_image)
        ev = LVISEval(gt_api, dt_api, iou_type)
        ev.params.max_dets = max_dets_per_image if max_dets_per_image >= 0 else -1
        ev.run()
        summary = {k: float(v) for k, v in ev.get_results().items()}
        return LVISMetrics(summary, cat_ids, _category_ap(ev.eval["precision"]))


def evaluate_with_faster_coco_eval(
    gt, results: Sequence[Dict], iou_type: str, max_dets_per_image: int = LVIS_MAX_DETS_PER_IMAGE
) -> LVISMetrics:
    """faster-coco-eval's COCOeval in LVIS mode. ``gt``: a json path, a dataset dict or a
    ``faster_coco_eval.COCO``."""
    from faster_coco_eval import COCO, COCOeval_faster

    gt_api = gt if isinstance(gt, COCO) else COCO(gt)
    dets = cap_detections_per_image(_results_for(results, iou_type), max_dets_per_image)
    cat_ids = sorted(gt_api.getCatIds())
    if not dets:
        return _empty_metrics(cat_ids, max_dets_per_image)
    dt_api = gt_api.loadRes(dets)
    ev = COCOeval_faster(gt_api, dt_api, iou_type, lvis_style=True, print_function=logger.debug)
    # the per-image cap is applied above; no cap per (image, class) beyond it
    k = max_dets_per_image if max_dets_per_image >= 0 else 10**9
    ev.params.maxDets = [k]
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    s = ev.all_stats
    label = max_dets_per_image if max_dets_per_image >= 0 else -1
    # all_stats (LVIS layout): AP AP50 AP75 APs APm APl | AR@k (3 slots) | ARs ARm ARl | AR50 AR75
    # | APr APc APf
    summary = {
        "AP": s[0],
        "AP50": s[1],
        "AP75": s[2],
        "APs": s[3],
        "APm": s[4],
        "APl": s[5],
        "APr": s[-3],
        "APc": s[-2],
        "APf": s[-1],
        f"AR@{label}": s[6],
        f"ARs@{label}": s[9],
        f"ARm@{label}": s[10],
        f"ARl@{label}": s[11],
    }
    summary = {key: float(v) for key, v in summary.items()}
    return LVISMetrics(summary, cat_ids, _category_ap(ev.eval["precision"]))


def _empty_metrics(cat_ids, max_dets) -> LVISMetrics:
    keys = list(SUMMARY_METRICS) + [f"AR{a}@{max_dets}" for a in ("", "s", "m", "l")]
    return LVISMetrics({k: float("nan") for k in keys}, cat_ids, np.full(len(cat_ids), np.nan))


def evaluate_lvis(
    gt,
    results: Sequence[Dict],
    iou_type: str,
    engine: str = "faster_coco_eval",
    max_dets_per_image: int = LVIS_MAX_DETS_PER_IMAGE,
) -> LVISMetrics:
    """LVIS metrics of ``results`` (LVIS result dicts) on ``gt`` with the named engine."""
    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"iou_type must be 'bbox' or 'segm', got {iou_type!r}")
    if engine == "faster_coco_eval":
        return evaluate_with_faster_coco_eval(gt, results, iou_type, max_dets_per_image)
    if engine == "lvis_api":
        return evaluate_with_lvis_api(gt, results, iou_type, max_dets_per_image)
    raise ValueError(f"unknown LVIS evaluation engine {engine!r}; choose one of {list(ENGINES)}")
