"""AP^Pool (Dave et al. 2021, "Evaluating Large-Vocabulary Object Detectors: The Devil is in the
Details"): one precision-recall curve over the detections of all classes, with both engines."""

from typing import Dict, Sequence, Tuple

import numpy as np

from .faster_lvis import evaluate_with_faster_coco_eval, faster_ground_truth
from .lvis_engines import (
    ENGINES,
    lvis_api_ground_truth,
    lvis_api_results,
    nothing_to_score_results,
    numpy_float_alias,
)
from .lvis_inputs import (
    check_results,
    has_ignore_flags,
    results_for,
    scorable,
)
from .lvis_metrics import Results


def pooled_ap(
    gt, results: Results, iou_type: str = "bbox", engine: str = "faster_coco_eval"
) -> float:
    """AP^Pool (Dave et al. 2021): one precision-recall curve over the detections of all classes,
    ranked by score across classes. A detection is matched within its own class and image as in
    LVIS (federated: only classes annotated or negative in the image count; unmatched detections
    of a not-exhaustive class are ignored); precision is interpolated at 101 recall points and
    averaged over IoU 0.50:0.95, as LVIS's AP. No per-image cap. ``gt``: a json path, a dataset
    dict, or the engine's ground-truth object. Results and ground truth are read as lvis-api
    reads them (:mod:`.lvis_inputs`): nothing to score gives 0, no ground truth NaN.

    faster_coco_eval: every (image, class) pair of the ground truth becomes an image of one pooled
    class, so that the engine matches within (image, class) and ranks across classes.
    lvis_api (the reference): pools lvis-api's per-(image, class) matches by hand."""
    if engine == "faster_coco_eval":
        gt = faster_ground_truth(gt)
        if not has_ignore_flags(gt.dataset):  # else lvis-api, which honours them
            return _pooled_ap_faster(gt, results, iou_type)
    elif engine != "lvis_api":
        raise ValueError(
            f"unknown LVIS evaluation engine {engine!r}; choose one of {list(ENGINES)}"
        )
    with numpy_float_alias():
        from lvis import LVISEval, LVISResults

        gt_api = lvis_api_ground_truth(gt)
        dets = results_for(results, iou_type)
        check_results(dets, gt_api.dataset, iou_type)
        dets = lvis_api_results(dets, iou_type) or nothing_to_score_results(gt_api, iou_type)
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
    ignores them). Pairs are numbered in (class, image) order, the order in which the lvis-api
    route pools them, so that tied scores rank alike in both engines."""
    sizes = {img["id"]: (img["height"], img["width"]) for img in gt_dataset["images"]}
    annotated = {(a["image_id"], a["category_id"]) for a in gt_dataset.get("annotations", [])}
    negative = {
        (img["id"], c) for img in gt_dataset["images"] for c in img.get("neg_category_ids", [])
    }
    not_exhaustive = {
        (img["id"], c)
        for img in gt_dataset["images"]
        for c in img.get("not_exhaustive_category_ids", [])
    }
    pairs = sorted(annotated | negative, key=lambda p: (p[1], p[0]))
    pair_id: Dict[Tuple[int, int], int] = {p: k for k, p in enumerate(pairs, 1)}
    annotations = [
        {**a, "image_id": pair_id[a["image_id"], a["category_id"]], "category_id": 1}
        for a in gt_dataset.get("annotations", [])
    ]
    images = []
    for (img_id, cat_id), pid in pair_id.items():
        h, w = sizes[img_id]
        images.append(
            {
                "id": pid,
                "height": h,
                "width": w,
                "neg_category_ids": [1] if (img_id, cat_id) in negative else [],
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


def _pooled_ap_faster(gt, results: Results, iou_type: str) -> float:
    gt = faster_ground_truth(gt)  # what lvis-api evaluates: annotations of area > 0, no crowds
    dets = results_for(results, iou_type)
    check_results(dets, gt.dataset, iou_type)
    pooled_gt, dets = pooled_dataset(gt.dataset, scorable(dets, iou_type).to_dicts())
    if not pooled_gt["annotations"]:
        return float("nan")
    return evaluate_with_faster_coco_eval(pooled_gt, dets, iou_type, -1).summary["AP"]
