"""Ground truth and results as lvis-api (0.5.3) evaluates them, so that every engine sees the same.

lvis-api's rules that another engine must be told:

* **Area in (0, inf).** ``LVISEval._prepare`` reads annotations through ``LVIS.get_ann_ids``, which
  keeps only those with ``0 < area < inf``, for the ground truth (its ``area`` field) and for the
  results (``LVISResults`` sets a box's area to w * h and a mask's to its pixel count). A result
  of zero area (an empty mask, a zero-width box) still counts towards the per-image cap, which
  ``LVISResults`` applies first, and is then dropped. A ground-truth object of zero area is
  dropped, and with it the (image, category) pair it made evaluable.
* **No crowds.** LVIS has no crowd regions: lvis-api matches every object as a plain one whatever
  its ``iscrowd``; faster-coco-eval would make an ``iscrowd`` object a COCO crowd region.
* **``ignore`` flags** of ground-truth objects are honoured by lvis-api; faster-coco-eval
  overwrites them with ``iscrowd``, so a ground truth with such flags is evaluated by lvis-api.
* **Nothing to score** (no result left on an evaluated pair): every category with ground truth has
  precision and recall 0, so the metrics are 0 (or -1 where no category has ground truth), not
  undefined.

Results are refused (:class:`ResultsError`, naming the result and field) when they cannot mean
anything: a non-finite score or box coordinate, a box of negative width or height, an image or
a category that the ground truth does not have.
"""

import math
from typing import Dict, List

import numpy as np

from ..errors import UserError
from .detections import Detections, ResultsError, as_detections


def _positive_finite_area(area) -> bool:
    return isinstance(area, (int, float)) and not isinstance(area, bool) and 0 < area < math.inf


class GroundTruthError(UserError):
    """A ground truth that LVIS evaluation cannot read; the message names the annotation and
    field."""


def check_ground_truth(dataset: Dict, name: str = "given") -> None:
    """Raises GroundTruthError naming the first annotation without a numeric ``area`` (lvis-api
    selects objects by it); gives every image LVIS's federated label lists (empty when absent),
    in place."""
    for k, a in enumerate(dataset.get("annotations", [])):
        area = a.get("area")
        if not isinstance(area, (int, float)) or isinstance(area, bool):
            raise GroundTruthError(
                f"ground truth {name}: annotations[{k}] (id {a.get('id')}) field 'area' must be a "
                f"number (LVIS evaluation selects objects by it), got {area!r}"
            )
    for img in dataset["images"]:
        img.setdefault("neg_category_ids", [])
        img.setdefault("not_exhaustive_category_ids", [])


def check_segmentations(dataset: Dict, name: str = "given") -> None:
    """Raises GroundTruthError naming the first annotation without a ``segmentation`` (segm
    evaluation)."""
    for k, a in enumerate(dataset.get("annotations", [])):
        if not a.get("segmentation"):
            raise GroundTruthError(
                f"ground truth {name}: annotations[{k}] (id {a.get('id')}) has no 'segmentation' "
                "(segm evaluation)"
            )


def lvis_ground_truth(dataset: Dict) -> Dict:
    """A shallow copy of an LVIS-format dataset with the annotations lvis-api evaluates (area in
    (0, inf)), each with ``iscrowd`` 0. Images and categories are shared with ``dataset``."""
    annotations = [
        {**a, "iscrowd": 0}
        for a in dataset.get("annotations", [])
        if _positive_finite_area(a.get("area"))
    ]
    return {**dataset, "annotations": annotations}


def has_ignore_flags(dataset: Dict) -> bool:
    """Whether a ground-truth annotation carries a true ``ignore`` flag (honoured by lvis-api)."""
    return any(a.get("ignore") for a in dataset.get("annotations", []))


def result_areas(dets: Detections, iou_type: str) -> np.ndarray:
    """(n,) the area lvis-api gives each result: w * h of its box, or its mask's pixel count."""
    if iou_type == "segm":
        return np.asarray(dets.area, np.float64)
    return dets.bbox[:, 2] * dets.bbox[:, 3]


def scorable(dets: Detections, iou_type: str) -> Detections:
    """The results lvis-api keeps after its per-image cap: area in (0, inf)."""
    area = result_areas(dets, iou_type)
    keep = (area > 0) & (area < np.inf)
    return dets if keep.all() else dets.take(np.flatnonzero(keep))


def results_for(results, iou_type: str) -> Detections:
    """``results`` (LVIS result dicts or :class:`Detections`) as Detections for an ``iou_type``
    evaluation: segm needs masks; bbox needs the results' own boxes (lvis-api would take a
    mask-only result's area from its mask, not its box)."""
    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"iou_type must be 'bbox' or 'segm', got {iou_type!r}")
    dets = as_detections(results)
    if iou_type == "segm" and len(dets) and not dets.has_masks:
        raise ResultsError("segm evaluation needs results with a 'segmentation'")
    if iou_type == "bbox" and not isinstance(results, Detections):
        k = next((k for k, r in enumerate(results) if "bbox" not in r), None)
        if k is not None:
            raise ResultsError(f"results[{k}] has no field 'bbox' (bbox evaluation)")
    return dets


def check_results(dets: Detections, dataset: Dict, iou_type: str) -> None:
    """Raises ResultsError naming the first result that cannot be evaluated on the ground truth
    ``dataset`` (non-finite score or box, negative box size, unknown image or category), or
    GroundTruthError when segm evaluation meets an object without a segmentation."""
    if iou_type == "segm":
        check_segmentations(dataset)
    if not len(dets):
        return
    image_ids = np.array([img["id"] for img in dataset["images"]], np.int64)
    category_ids = np.array([c["id"] for c in dataset["categories"]], np.int64)
    checks = [
        (~np.isfinite(dets.score), "score", "is not finite"),
        (~np.isfinite(dets.bbox).all(1), "bbox", "has a non-finite value"),
        ((dets.bbox[:, 2:] < 0).any(1), "bbox", "has a negative width or height"),
        (~np.isin(dets.image_id, image_ids), "image_id", "is not an image of the ground truth"),
        (
            ~np.isin(dets.category_id, category_ids),
            "category_id",
            "is not a category of the ground truth",
        ),
    ]
    for bad, field, what in checks:
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            value = _value(dets, k, field)
            raise ResultsError(
                f"results[{k}] field '{field}' {what}: {value} ({int(bad.sum())} such results)"
            )


def _value(dets: Detections, k: int, field: str) -> List:
    return {
        "score": dets.score[k],
        "bbox": dets.bbox[k].tolist(),
        "image_id": dets.image_id[k],
        "category_id": dets.category_id[k],
    }[field]
