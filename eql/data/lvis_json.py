"""Reading an LVIS-format json with every check that can name the culprit (file, field, index,
id): syntax, required fields, ids, category references, federated label sets, boxes, polygons,
duplicates, empty sets."""

import math
from typing import Dict

from detectron2.utils.file_io import PathManager

from ..errors import UserError
from ..gc_pause import gc_paused
from ..io_utils import read_json


class DatasetFormatError(UserError):
    """An LVIS-format json (or its images) is not usable; the message names file and field."""


def read_lvis_json(json_file: str, require_annotations: bool = False) -> Dict:
    """Reads and validates an LVIS-format json. ``annotations`` may be absent (image-info files
    such as test-dev) unless ``require_annotations``."""
    with gc_paused():
        return _read_lvis_json(json_file, require_annotations)


def _read_lvis_json(json_file: str, require_annotations: bool) -> Dict:
    data = read_json(PathManager.get_local_path(json_file), DatasetFormatError, json_file)
    if not isinstance(data, dict):
        raise DatasetFormatError(f"{json_file}: top level must be an object")
    for key in ("images", "categories"):
        if key not in data:
            raise DatasetFormatError(f"{json_file}: missing field '{key}'")
        if not isinstance(data[key], list):
            raise DatasetFormatError(f"{json_file}: field '{key}' must be a list")
    if require_annotations and "annotations" not in data:
        raise DatasetFormatError(f"{json_file}: missing field 'annotations'")
    if not data["images"]:
        raise DatasetFormatError(f"{json_file}: empty dataset (field 'images' is empty)")
    if not data["categories"]:
        raise DatasetFormatError(f"{json_file}: field 'categories' is empty")
    for k, cat in enumerate(data["categories"]):
        if "id" not in cat or "name" not in cat:
            raise DatasetFormatError(f"{json_file}: categories[{k}] needs 'id' and 'name'")
    cat_ids = [c["id"] for c in data["categories"]]
    known = set(cat_ids)
    if len(known) != len(cat_ids):
        raise DatasetFormatError(f"{json_file}: field 'categories' has duplicate ids")
    image_ids = set()
    for k, img in enumerate(data["images"]):
        for key in ("id", "height", "width"):
            if key not in img:
                raise DatasetFormatError(f"{json_file}: images[{k}] has no field '{key}'")
        if "file_name" not in img and "coco_url" not in img:
            raise DatasetFormatError(
                f"{json_file}: images[{k}] (id {img['id']}) needs 'file_name' or 'coco_url'"
            )
        for key in ("neg_category_ids", "not_exhaustive_category_ids"):
            bad = [c for c in img.get(key, []) if c not in known]
            if bad:
                raise DatasetFormatError(
                    f"{json_file}: images[{k}] (id {img['id']}) field '{key}' has unknown "
                    f"category ids {bad[:5]}"
                )
        if img["id"] in image_ids:
            raise DatasetFormatError(
                f"{json_file}: images[{k}] repeats image id {img['id']} (field 'id'; image ids "
                "must be unique)"
            )
        if not _positive_number(img["height"]) or not _positive_number(img["width"]):
            raise DatasetFormatError(
                f"{json_file}: images[{k}] (id {img['id']}) has size {img['width']} x "
                f"{img['height']} (fields 'width', 'height' must be > 0)"
            )
        image_ids.add(img["id"])
    ann_ids = set()
    empty_boxes = 0
    for k, ann in enumerate(data.get("annotations", [])):
        for key in ("id", "image_id", "category_id", "bbox"):
            if key not in ann:
                raise DatasetFormatError(f"{json_file}: annotations[{k}] has no field '{key}'")
        if ann["category_id"] not in known:
            raise DatasetFormatError(
                f"{json_file}: annotations[{k}] (id {ann['id']}) has unknown category_id "
                f"{ann['category_id']} (field 'category_id')"
            )
        if ann["image_id"] not in image_ids:
            raise DatasetFormatError(
                f"{json_file}: annotations[{k}] (id {ann['id']}) refers to unknown image_id "
                f"{ann['image_id']} (field 'image_id')"
            )
        if ann["id"] in ann_ids:
            raise DatasetFormatError(f"{json_file}: duplicate annotation id {ann['id']}")
        ann_ids.add(ann["id"])
        empty_boxes += _check_box(json_file, k, ann)
        segm = ann.get("segmentation")
        if segm is not None and isinstance(segm, list):
            if not segm or any(len(p) < 6 or len(p) % 2 for p in segm):
                raise DatasetFormatError(
                    f"{json_file}: annotations[{k}] (id {ann['id']}) field 'segmentation' has "
                    f"a polygon with fewer than 3 points"
                )
    annotations = data.get("annotations")
    if require_annotations and not annotations:
        raise DatasetFormatError(f"{json_file}: field 'annotations' is empty (nothing to train on)")
    if annotations and empty_boxes == len(annotations):
        raise DatasetFormatError(
            f"{json_file}: every box in field 'annotations' is empty (0 x 0): the boxes are "
            "missing or in the wrong format (expected [x, y, width, height])"
        )
    return data


def _positive_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def _check_box(json_file: str, k: int, ann: Dict) -> int:
    """Checks annotations[k]'s ``bbox`` ([x, y, w, h], finite, w, h >= 0); 1 if it is 0 x 0."""
    box = ann["bbox"]
    where = f"{json_file}: annotations[{k}] (id {ann['id']}) field 'bbox'"
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        raise DatasetFormatError(f"{where} must be [x, y, width, height], got {box!r}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box):
        raise DatasetFormatError(f"{where} must hold 4 numbers, got {box!r}")
    if not all(math.isfinite(v) for v in box):
        raise DatasetFormatError(f"{where} has a non-finite value: {box!r}")
    if box[2] < 0 or box[3] < 0:
        raise DatasetFormatError(f"{where} has a negative width or height: {box!r}")
    return int(box[2] == 0 and box[3] == 0)
