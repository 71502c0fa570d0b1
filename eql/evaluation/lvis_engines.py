"""LVIS metrics from two engines: lvis-api (the reference, pure Python) and faster-coco-eval's LVIS
mode (C++). Both see the same detections: at most ``max_dets_per_image`` per image, the
top-scoring ones across classes, as lvis-api keeps them.

An engine returns :class:`LVISMetrics`: the 13 summary metrics of lvis-api (in [0, 1]) and the
per-category AP (NaN where a category has no ground truth in the evaluated images).
"""

import contextlib
import gc
import json
import logging
import os
from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, List, Sequence, Set, Tuple

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
    """Copies of the result dicts that the engines may annotate (they add ids, areas, ...; the
    caller's dicts stay untouched). For segm the boxes are dropped so that areas (small / medium /
    large) and boxes come from the masks, as detectron2 does."""
    if iou_type == "segm":
        return [{k: v for k, v in r.items() if k != "bbox"} for r in results]
    return [{**r, "bbox": list(r["bbox"])} for r in results]


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


def _most_per_image_and_class(dets: Sequence[Dict]) -> int:
    """The largest number of detections of one class in one image: a cap that cuts nothing."""
    counts = defaultdict(int)
    for d in dets:
        counts[d["image_id"], d["category_id"]] += 1
    return max(counts.values(), default=1)


def lvis_evaluable_pairs(gt_dataset: Dict) -> Set[Tuple[int, int]]:
    """(image id, category id) pairs that LVIS evaluates: the image's annotated categories and its
    ``neg_category_ids``. Detections of other pairs are ignored by LVIS (federated labels)."""
    pairs = {(a["image_id"], a["category_id"]) for a in gt_dataset.get("annotations", [])}
    for img in gt_dataset["images"]:
        pairs.update((img["id"], c) for c in img.get("neg_category_ids", []))
    return pairs


def _faster_coco_results(gt_api, dets: Sequence[Dict], iou_type: str):
    """A faster_coco_eval.COCO of the detections, built in one pass (what ``loadRes`` computes:
    ids, areas, boxes of masks), with vectorised mask areas."""
    from faster_coco_eval import COCO
    from faster_coco_eval.core import mask as fce_mask

    if iou_type == "segm":
        # mask IoU needs no box; the area (small / medium / large) is the mask's: taken from the
        # results when they carry it (eql's evaluator counts mask pixels), else from the RLEs
        if all("area" in d for d in dets):
            areas = [d["area"] for d in dets]
        else:
            areas = fce_mask.area([d["segmentation"] for d in dets]).tolist()
        anns = [
            {
                "id": i + 1,
                "image_id": d["image_id"],
                "category_id": d["category_id"],
                "segmentation": d["segmentation"],
                "score": d["score"],
                "area": area,
                "iscrowd": 0,
            }
            for i, (d, area) in enumerate(zip(dets, areas))
        ]
    else:
        anns = [
            {
                "id": i + 1,
                "image_id": d["image_id"],
                "category_id": d["category_id"],
                "bbox": d["bbox"],
                "score": d["score"],
                "area": d["bbox"][2] * d["bbox"][3],
                "iscrowd": 0,
            }
            for i, d in enumerate(dets)
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
    gt, results: Sequence[Dict], iou_type: str, max_dets_per_image: int = LVIS_MAX_DETS_PER_IMAGE
) -> LVISMetrics:
    """faster-coco-eval's COCOeval in LVIS mode. ``gt``: a json path, a dataset dict or a
    ``faster_coco_eval.COCO``. Detections are capped per image first, then those LVIS ignores
    (categories neither annotated nor negative in their image) are dropped before the engine
    sees them, which changes no metric."""
    from faster_coco_eval import COCO, COCOeval_faster

    with _gc_paused():
        gt_api = gt if isinstance(gt, COCO) else COCO(gt)
        cat_ids = sorted(gt_api.getCatIds())
        dets = cap_detections_per_image(results, max_dets_per_image)
        pairs = lvis_evaluable_pairs(gt_api.dataset)
        dets = [d for d in dets if (d["image_id"], d["category_id"]) in pairs]
        if not dets:
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


def cap_detections_per_class(results: Sequence[Dict], max_dets: int) -> List[Dict]:
    """The ``max_dets`` top-scoring detections of each class over the whole dataset (AP^Fixed,
    Dave et al. 2021); order kept otherwise."""
    per_class = defaultdict(list)
    for i, r in enumerate(results):
        per_class[r["category_id"]].append(i)
    keep = []
    for idx in per_class.values():
        if len(idx) > max_dets:
            idx = sorted(idx, key=lambda i: results[i]["score"], reverse=True)[:max_dets]
        keep.extend(idx)
    return [results[i] for i in sorted(keep)]


def pooled_ap(
    gt, results: Sequence[Dict], iou_type: str = "bbox", engine: str = "faster_coco_eval"
) -> float:
    """AP^Pool (Dave et al. 2021): one precision-recall curve over the detections of all classes,
    ranked by score across classes. A detection is matched within its own class and image as in
    LVIS (federated: only classes annotated or negative in the image count; unmatched detections
    of a not-exhaustive class are ignored); precision is interpolated at 101 recall points and
    averaged over IoU 0.50:0.95, as LVIS's AP. No per-image cap. ``gt``: a json path (or, for
    lvis_api, an ``lvis.LVIS``; for faster_coco_eval, a dataset dict or a
    ``faster_coco_eval.COCO``).

    faster_coco_eval: every (image, class) pair of the ground truth becomes an image of one pooled
    class, so that the engine matches within (image, class) and ranks across classes.
    lvis_api (the reference): pools lvis-api's per-(image, class) matches by hand."""
    if engine == "faster_coco_eval":
        return _pooled_ap_faster(gt, results, iou_type)
    if engine != "lvis_api":
        raise ValueError(
            f"unknown LVIS evaluation engine {engine!r}; choose one of {list(ENGINES)}"
        )
    with numpy_float_alias():
        from lvis import LVIS, LVISEval, LVISResults

        gt_api = LVIS(gt) if isinstance(gt, str) else gt
        dets = _results_for(results, iou_type)
        if not dets:
            return float("nan")
        ev = LVISEval(gt_api, LVISResults(gt_api, dets, max_dets=-1), iou_type)
        ev.params.area_rng, ev.params.area_rng_lbl = [ev.params.area_rng[0]], ["all"]
        ev.evaluate()
    iou_thrs = ev.params.iou_thrs
    scores, matched, ignored, num_gt = [], [], [], 0
    for e in ev.eval_imgs:
        if e is None:
            continue
        num_gt += int(np.count_nonzero(np.logical_not(e["gt_ignore"])))
        scores.append(np.asarray(e["dt_scores"], dtype=np.float64))
        matched.append(np.asarray(e["dt_matches"]).reshape(len(iou_thrs), -1) > 0)
        ignored.append(np.asarray(e["dt_ignore"]).reshape(len(iou_thrs), -1).astype(bool))
    if num_gt == 0:
        return float("nan")
    scores = np.concatenate(scores)
    order = np.argsort(-scores, kind="mergesort")
    matched = np.concatenate(matched, axis=1)[:, order]
    ignored = np.concatenate(ignored, axis=1)[:, order]
    recall_thrs = np.linspace(0.0, 1.0, 101)
    aps = []
    for t in range(len(iou_thrs)):
        tp = np.cumsum(matched[t] & ~ignored[t]).astype(np.float64)
        fp = np.cumsum(~matched[t] & ~ignored[t]).astype(np.float64)
        recall = tp / num_gt
        precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        precision = np.maximum.accumulate(precision[::-1])[::-1]  # interpolated (monotone)
        idx = np.searchsorted(recall, recall_thrs, side="left")
        q = np.zeros(len(recall_thrs))
        ok = idx < len(precision)
        q[ok] = precision[idx[ok]]
        aps.append(q.mean())
    return float(np.mean(aps))


def pooled_dataset(gt_dataset: Dict, results: Sequence[Dict]):
    """(gt, dets) with one class: each evaluable (image, class) pair of ``gt_dataset`` is an image
    (its own size) whose objects are that class's objects there, negative or not exhaustive as the
    class was in the original image. Detections follow their pair; others are dropped (LVIS
    ignores them)."""
    pair_id: Dict[Tuple[int, int], int] = {}
    sizes = {img["id"]: (img["height"], img["width"]) for img in gt_dataset["images"]}
    negative = set()

    def new_id(img_id, cat_id):
        if (img_id, cat_id) not in pair_id:
            pair_id[img_id, cat_id] = len(pair_id) + 1
        return pair_id[img_id, cat_id]

    annotations = []
    for a in gt_dataset.get("annotations", []):
        annotations.append(
            {**a, "image_id": new_id(a["image_id"], a["category_id"]), "category_id": 1}
        )
    for img in gt_dataset["images"]:
        for c in img.get("neg_category_ids", []):
            negative.add(new_id(img["id"], c))
    not_exhaustive = {
        (img["id"], c)
        for img in gt_dataset["images"]
        for c in img.get("not_exhaustive_category_ids", [])
    }
    images = []
    for (img_id, cat_id), pid in pair_id.items():
        h, w = sizes[img_id]
        images.append(
            {
                "id": pid,
                "height": h,
                "width": w,
                "neg_category_ids": [1] if pid in negative else [],
                "not_exhaustive_category_ids": [1] if (img_id, cat_id) in not_exhaustive else [],
            }
        )
    gt = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "pooled", "frequency": "f"}],
    }
    dets = [
        {**d, "image_id": pair_id[d["image_id"], d["category_id"]], "category_id": 1}
        for d in results
        if (d["image_id"], d["category_id"]) in pair_id
    ]
    return gt, dets


def _pooled_ap_faster(gt, results: Sequence[Dict], iou_type: str) -> float:
    if isinstance(gt, str):
        with open(gt) as f:
            gt = json.load(f)
    elif hasattr(gt, "dataset"):  # a faster_coco_eval.COCO
        gt = gt.dataset
    pooled_gt, dets = pooled_dataset(gt, results)
    if not dets or not pooled_gt["annotations"]:
        return float("nan")
    return evaluate_with_faster_coco_eval(pooled_gt, dets, iou_type, -1).summary["AP"]


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
