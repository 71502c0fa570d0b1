"""LVIS metrics from two engines: lvis-api (the reference, pure Python) and faster-coco-eval's LVIS
mode (C++). Both see the same detections: at most ``max_dets_per_image`` per image, the
top-scoring ones across classes, as lvis-api keeps them.

An engine returns :class:`LVISMetrics`: the 13 summary metrics of lvis-api (in [0, 1]) and the
per-category AP (NaN where a category has no ground truth in the evaluated images).
"""

import contextlib
import gc
import logging
import os
from dataclasses import dataclass
from typing import Dict, List, Sequence, Union

import numpy as np

from .detections import Detections, as_detections

logger = logging.getLogger(__name__)

SUMMARY_METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf")
ENGINES = ("faster_coco_eval", "lvis_api")
LVIS_MAX_DETS_PER_IMAGE = 300
Results = Union[Detections, Sequence[Dict]]  # columns or LVIS result dicts


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


def lvis_api_results(dets: Detections, iou_type: str) -> List[Dict]:
    """Result dicts for lvis-api (which annotates them: ids, areas, ...). For segm the boxes are
    dropped so that areas (small / medium / large) and boxes come from the masks, as detectron2
    does."""
    rows = dets.to_dicts()
    if iou_type == "segm":
        for r in rows:
            del r["bbox"]
    return rows


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
    gt, results: Results, iou_type: str, max_dets_per_image: int = LVIS_MAX_DETS_PER_IMAGE
) -> LVISMetrics:
    """lvis-api's LVISEval. ``gt``: a json path or an ``lvis.LVIS``."""
    with numpy_float_alias():
        from lvis import LVIS, LVISEval, LVISResults

        gt_api = LVIS(gt) if isinstance(gt, str) else gt
        dets = lvis_api_results(as_detections(results), iou_type)
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


@contextlib.contextmanager
def _gc_paused():
    """Pauses the cyclic garbage collector: building ~10^6 small dicts otherwise triggers many
    full collections."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _most_per_image_and_class(dets: Detections) -> int:
    """The largest number of detections of one class in one image: a cap that cuts nothing."""
    if not len(dets):
        return 1
    _, counts = np.unique(
        np.stack([dets.image_id, dets.category_id], 1), axis=0, return_counts=True
    )
    return int(counts.max())


def _pair_keys(image_ids: np.ndarray, category_ids: np.ndarray, num_keys: int) -> np.ndarray:
    return np.asarray(image_ids, np.int64) * num_keys + np.asarray(category_ids, np.int64)


def lvis_evaluable(gt_dataset: Dict, dets: Detections) -> np.ndarray:
    """(n,) bool: the detection's (image, category) pair is one LVIS evaluates, i.e. the category
    is annotated in the image or in its ``neg_category_ids``. LVIS ignores the other detections
    (federated labels)."""
    anns = gt_dataset.get("annotations", [])
    images = gt_dataset["images"]
    neg = [(img["id"], c) for img in images for c in img.get("neg_category_ids", [])]
    gt_images = np.array([a["image_id"] for a in anns] + [p[0] for p in neg], np.int64)
    gt_cats = np.array([a["category_id"] for a in anns] + [p[1] for p in neg], np.int64)
    num_keys = int(max(gt_cats.max(initial=0), dets.category_id.max(initial=0))) + 1
    gt_keys = np.unique(_pair_keys(gt_images, gt_cats, num_keys))
    return np.isin(_pair_keys(dets.image_id, dets.category_id, num_keys), gt_keys)


def _faster_coco_results(gt_api, dets: Detections, iou_type: str):
    """A faster_coco_eval.COCO of the detections, built in one pass from the columns (what
    ``loadRes`` computes: ids, areas, boxes of masks)."""
    from faster_coco_eval import COCO

    ids = range(1, len(dets) + 1)
    common = zip(ids, dets.image_id.tolist(), dets.category_id.tolist(), dets.score.tolist())
    if iou_type == "segm":
        # mask IoU needs no box; the area (small / medium / large) is the mask's
        segs = zip(dets.rle_size.tolist(), dets.rle_counts, dets.area.tolist())
        anns = [
            {
                "id": i,
                "image_id": img,
                "category_id": cat,
                "segmentation": {"size": size, "counts": counts},
                "score": score,
                "area": area,
                "iscrowd": 0,
            }
            for (i, img, cat, score), (size, counts, area) in zip(common, segs)
        ]
    else:
        boxes = dets.bbox.tolist()
        areas = (dets.bbox[:, 2] * dets.bbox[:, 3]).tolist()
        anns = [
            {
                "id": i,
                "image_id": img,
                "category_id": cat,
                "bbox": box,
                "score": score,
                "area": area,
                "iscrowd": 0,
            }
            for (i, img, cat, score), box, area in zip(common, boxes, areas)
        ]
    res = COCO()
    res.dataset = {
        "images": gt_api.dataset["images"],
        "categories": gt_api.dataset["categories"],
        "annotations": anns,
    }
    res.createIndex()
    return res


def evaluate_with_faster_coco_eval(
    gt, results: Results, iou_type: str, max_dets_per_image: int = LVIS_MAX_DETS_PER_IMAGE
) -> LVISMetrics:
    """faster-coco-eval's COCOeval in LVIS mode. ``gt``: a json path, a dataset dict or a
    ``faster_coco_eval.COCO``. Detections are capped per image first, then those LVIS ignores
    (categories neither annotated nor negative in their image) are dropped before the engine
    sees them, which changes no metric."""
    from faster_coco_eval import COCO, COCOeval_faster

    with _gc_paused():
        gt_api = gt if isinstance(gt, COCO) else COCO(gt)
        cat_ids = sorted(gt_api.getCatIds())
        dets = as_detections(results).cap_per_image(max_dets_per_image)
        dets = dets.take(np.flatnonzero(lvis_evaluable(gt_api.dataset, dets)))
        if not len(dets):
            return _empty_metrics(cat_ids, max_dets_per_image)
        dt_api = _faster_coco_results(gt_api, dets, iou_type)
        ev = COCOeval_faster(
            gt_api,
            dt_api,
            iou_type,
            lvis_style=True,
            print_function=logger.debug,
            rle_iou_max_workers=max(1, min(8, os.cpu_count() or 1)),
        )
        # the per-image cap is applied above; no cap per (image, class) beyond it
        ev.params.maxDets = [
            max_dets_per_image if max_dets_per_image >= 0 else _most_per_image_and_class(dets)
        ]
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
