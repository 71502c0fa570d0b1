"""eql's LVIS engine: faster-coco-eval's C++ matching in LVIS mode, run per group of categories.

faster-coco-eval evaluates every (image, category) pair of its parameters: 24M pairs at LVIS val
size (19,809 images x 1,203 classes), nearly all of which LVIS ignores (a category counts only in
the images where it is annotated or listed in ``neg_category_ids``). Here the categories are cut
into groups of similar image counts and each group is evaluated on the images where one of its
categories counts; a category's precision and recall depend only on those images, so the
concatenated arrays equal a single run's. The summary is then taken as lvis-api takes it
(:func:`lvis_summary`). At 2,000 LVIS-sized images this is ~5x faster than one run over all
pairs and keeps the engine's memory proportional to the evaluable pairs.
"""

import json
import logging
import os
from typing import Dict, List, Tuple

import numpy as np

from ..utils.gc_pause import gc_paused
from .detections import Detections
from .lvis_inputs import (
    check_ground_truth,
    check_results,
    lvis_ground_truth,
    results_for,
    scorable,
)
from .lvis_metrics import LVIS_MAX_DETS_PER_IMAGE, LVISMetrics, Results, category_ap, lvis_summary

logger = logging.getLogger(__name__)

CATEGORIES_PER_GROUP = 8


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


def evaluable_images(gt_dataset: Dict) -> Dict[int, np.ndarray]:
    """category id -> sorted ids of the images where LVIS evaluates it: the category is annotated
    in the image or in its ``neg_category_ids`` (federated labels)."""
    anns = gt_dataset.get("annotations", [])
    neg = [(img["id"], c) for img in gt_dataset["images"] for c in img.get("neg_category_ids", [])]
    images = np.array([a["image_id"] for a in anns] + [p[0] for p in neg], np.int64)
    cats = np.array([a["category_id"] for a in anns] + [p[1] for p in neg], np.int64)
    pairs = np.unique(np.stack([cats, images], 1), axis=0)  # sorted by category, then image
    if not len(pairs):
        return {}
    starts = np.flatnonzero(np.r_[True, pairs[1:, 0] != pairs[:-1, 0]])
    return {int(pairs[s, 0]): pairs[s:e, 1] for s, e in zip(starts, np.r_[starts[1:], len(pairs)])}


def lvis_evaluable(images_of: Dict[int, np.ndarray], dets: Detections) -> np.ndarray:
    """(n,) bool: the detection's (image, category) pair is one LVIS evaluates (``images_of``:
    :func:`evaluable_images`). LVIS ignores the other detections."""
    if not images_of:
        return np.zeros(len(dets), bool)
    num_keys = int(max(max(images_of), dets.category_id.max(initial=0))) + 1
    gt_keys = np.concatenate(
        [_pair_keys(v, np.full(len(v), c), num_keys) for c, v in images_of.items()]
    )
    return np.isin(_pair_keys(dets.image_id, dets.category_id, num_keys), gt_keys)


def _faster_coco_results(gt_api, dets: Detections, iou_type: str):
    """A faster_coco_eval.COCO of the detections, built in one pass from the columns (what
    ``loadRes`` computes: ids, areas, boxes of masks)."""
    from faster_coco_eval import COCO

    ids = range(1, len(dets) + 1)
    common = zip(ids, dets.image_id.tolist(), dets.category_id.tolist(), dets.score.tolist())
    if not len(dets):
        anns = []  # nothing to score: every category with ground truth gets precision 0
    elif iou_type == "segm":
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


def category_groups(
    images_of: Dict[int, np.ndarray], per_group: int = CATEGORIES_PER_GROUP
) -> List[Tuple]:
    """[(category ids, image ids)]: the categories with evaluable images, sorted by their number of
    images and cut into groups of ``per_group``, each with the union of its categories' images."""
    cats = sorted(images_of, key=lambda c: (-len(images_of[c]), c))
    groups = []
    for start in range(0, len(cats), per_group):
        group = sorted(cats[start : start + per_group])
        union = np.unique(np.concatenate([images_of[c] for c in group]))
        groups.append((group, union.tolist()))
    return groups


def faster_ground_truth(gt):
    """The ground truth as a ``faster_coco_eval.COCO`` of what lvis-api evaluates (annotations of
    area in (0, inf), no crowds: :func:`.lvis_inputs.lvis_ground_truth`). ``gt``: a json path, a
    dataset dict, a ``faster_coco_eval.COCO`` or this function's own result (returned as is)."""
    from faster_coco_eval import COCO

    if getattr(gt, "eql_lvis_ground_truth", False):
        return gt
    name = gt if isinstance(gt, str) else "given"
    if isinstance(gt, COCO):
        gt = gt.dataset
    elif isinstance(gt, str):
        with open(gt) as f:
            gt = json.load(f)
    check_ground_truth(gt, name)
    api = COCO(lvis_ground_truth(gt))
    api.eql_lvis_ground_truth = True
    return api


def evaluate_with_faster_coco_eval(
    gt, results: Results, iou_type: str, max_dets_per_image: int = LVIS_MAX_DETS_PER_IMAGE
) -> LVISMetrics:
    """LVIS metrics with faster-coco-eval. ``gt``: see :func:`faster_ground_truth`. Detections are
    capped per image first, then those lvis-api drops (area not in (0, inf)) and those LVIS
    ignores (categories neither annotated nor negative in their image) are dropped before the
    engine sees them, which changes no metric."""
    from faster_coco_eval import COCOeval_faster

    with gc_paused():
        gt_api = faster_ground_truth(gt)
        cat_ids = sorted(gt_api.getCatIds())
        dets = results_for(results, iou_type)
        check_results(dets, gt_api.dataset, iou_type)
        dets = scorable(dets.cap_per_image(max_dets_per_image), iou_type)
        images_of = evaluable_images(gt_api.dataset)
        dets = dets.take(np.flatnonzero(lvis_evaluable(images_of, dets)))
        dt_api = _faster_coco_results(gt_api, dets, iou_type)
        # the per-image cap is applied above; no cap per (image, class) beyond it
        max_dets = (
            max_dets_per_image if max_dets_per_image >= 0 else _most_per_image_and_class(dets)
        )
        index = {c: k for k, c in enumerate(cat_ids)}
        t, r, a = 10, 101, 4  # IoU thresholds, recall points, area ranges (LVIS's)
        precision = np.full((t, r, len(cat_ids), a), -1.0)
        recall = np.full((t, len(cat_ids), a), -1.0)
        iou_thresholds = np.linspace(0.5, 0.95, t)
        for group, image_ids in category_groups(images_of):
            ev = COCOeval_faster(
                gt_api,
                dt_api,
                iou_type,
                lvis_style=True,
                print_function=logger.debug,
                rle_iou_max_workers=max(1, min(8, os.cpu_count() or 1)),
            )
            ev.params.catIds, ev.params.imgIds, ev.params.maxDets = group, image_ids, [max_dets]
            ev.evaluate()
            ev.accumulate()
            assert ev.eval["precision"].shape[:2] == (t, r), ev.eval["precision"].shape
            iou_thresholds = np.asarray(ev.params.iouThrs)
            k = [index[c] for c in ev.params.catIds]
            precision[:, :, k] = ev.eval["precision"][..., -1]
            recall[:, k] = ev.eval["recall"][..., -1]
    frequencies = [gt_api.cats[c].get("frequency", "") for c in cat_ids]
    label = max_dets_per_image if max_dets_per_image >= 0 else -1
    summary = lvis_summary(precision, recall, iou_thresholds, frequencies, label)
    return LVISMetrics(summary, cat_ids, category_ap(precision))
