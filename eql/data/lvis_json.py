"""Reading an LVIS-format json with every check that can name the culprit (file, field, index,
id): syntax, required fields, integer ids, category references, federated label sets, boxes,
polygons and RLEs (crowd regions: accepted, as LVIS has no crowds they train as objects), areas,
duplicates, empty sets. Boxes may reach outside their image (detectron2 clips them)."""

import math
from typing import Dict

from detectron2.utils.file_io import PathManager

from ..errors import UserError
from ..utils.gc_pause import gc_paused
from ..utils.io import json_number, read_json


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
        if not isinstance(cat, dict) or "id" not in cat or "name" not in cat:
            raise DatasetFormatError(f"{json_file}: categories[{k}] needs 'id' and 'name'")
        _check_id(json_file, f"categories[{k}]", cat["id"])
    cat_ids = [c["id"] for c in data["categories"]]
    known = set(cat_ids)
    if len(known) != len(cat_ids):
        raise DatasetFormatError(f"{json_file}: field 'categories' has duplicate ids")
    image_ids = set()
    for k, img in enumerate(data["images"]):
        if not isinstance(img, dict):
            raise DatasetFormatError(f"{json_file}: images[{k}] is not an object")
        for key in ("id", "height", "width"):
            if key not in img:
                raise DatasetFormatError(f"{json_file}: images[{k}] has no field '{key}'")
        _check_id(json_file, f"images[{k}]", img["id"])
        if "file_name" not in img and "coco_url" not in img:
            raise DatasetFormatError(
                f"{json_file}: images[{k}] (id {img['id']}) needs 'file_name' or 'coco_url'"
            )
        for key in ("neg_category_ids", "not_exhaustive_category_ids"):
            if not isinstance(img.get(key, []), list):
                raise DatasetFormatError(
                    f"{json_file}: images[{k}] (id {img['id']}) field '{key}' must be a list of "
                    f"category ids, got {img[key]!r}"
                )
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
    sizes = {img["id"]: [img["height"], img["width"]] for img in data["images"]}
    for k, ann in enumerate(data.get("annotations", [])):
        if not isinstance(ann, dict):
            raise DatasetFormatError(f"{json_file}: annotations[{k}] is not an object")
        for key in ("id", "image_id", "category_id", "bbox"):
            if key not in ann:
                raise DatasetFormatError(f"{json_file}: annotations[{k}] has no field '{key}'")
        _check_id(json_file, f"annotations[{k}]", ann["id"])
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
        if "segmentation" in ann:
            _check_segmentation(json_file, k, ann, sizes[ann["image_id"]])
        area = ann.get("area", 0)
        if not json_number(area) or not math.isfinite(area) or area < 0:
            raise DatasetFormatError(
                f"{json_file}: annotations[{k}] (id {ann['id']}) field 'area' must be a finite "
                f"number >= 0, got {area!r}"
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


def _check_id(json_file: str, where: str, value) -> None:
    """Ids are integers in LVIS (lvis-api and detectron2 index by them; a string id "12" is not
    the image 12)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise DatasetFormatError(
            f"{json_file}: {where} field 'id' must be an integer, got {value!r}"
        )


def _check_segmentation(json_file: str, k: int, ann: Dict, size) -> None:
    """A list of polygons (each >= 3 points of finite numbers), or an RLE of the image's size
    (compressed: counts a string; uncompressed: a list of counts), as crowd regions have."""
    segm = ann["segmentation"]
    where = f"{json_file}: annotations[{k}] (id {ann['id']}) field 'segmentation'"
    if isinstance(segm, dict):
        counts, rle_size = segm.get("counts"), segm.get("size")
        if not isinstance(counts, (str, list)) or list(rle_size or []) != size:
            raise DatasetFormatError(
                f"{where} must be an RLE {{'size': [height, width] of the image = {size}, "
                f"'counts': ...}}, got size {rle_size!r}"
            )
        if isinstance(counts, list) and not all(
            isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts
        ):
            raise DatasetFormatError(f"{where} has an RLE whose counts are not integers >= 0")
        return
    if not isinstance(segm, list) or not segm:
        raise DatasetFormatError(f"{where} must be a list of polygons or an RLE, got {segm!r:.60}")
    for p in segm:
        if not isinstance(p, list) or not all(json_number(v) for v in p):
            raise DatasetFormatError(f"{where} has a polygon that is not a list of numbers")
        if not all(math.isfinite(v) for v in p):
            raise DatasetFormatError(f"{where} has a polygon with a non-finite coordinate")
        if len(p) < 6 or len(p) % 2:
            raise DatasetFormatError(f"{where} has a polygon with fewer than 3 points")


def _positive_number(x) -> bool:
    return json_number(x) and math.isfinite(x) and x > 0


def _check_box(json_file: str, k: int, ann: Dict) -> int:
    """Checks annotations[k]'s ``bbox`` ([x, y, w, h], finite, w, h >= 0); 1 if it is 0 x 0."""
    box = ann["bbox"]
    where = f"{json_file}: annotations[{k}] (id {ann['id']}) field 'bbox'"
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        raise DatasetFormatError(f"{where} must be [x, y, width, height], got {box!r}")
    if not all(json_number(v) for v in box):
        raise DatasetFormatError(f"{where} must hold 4 numbers, got {box!r}")
    if not all(math.isfinite(v) for v in box):
        raise DatasetFormatError(f"{where} has a non-finite value: {box!r}")
    if box[2] < 0 or box[3] < 0:
        raise DatasetFormatError(f"{where} has a negative width or height: {box!r}")
    return int(box[2] == 0 and box[3] == 0)
