"""Checks an LVIS results file (a test-dev or challenge submission) before it is uploaded."""

import math
from collections import Counter, defaultdict
from typing import Dict, List, Optional, Sequence

import pycocotools.mask as mask_util

from ..errors import UserError

MAX_EXAMPLES = 5


class _Problems:
    def __init__(self):
        self.by_kind = defaultdict(list)

    def add(self, kind: str, message: str):
        self.by_kind[kind].append(message)

    def lines(self) -> List[str]:
        out = []
        for kind, msgs in self.by_kind.items():
            shown = "; ".join(msgs[:MAX_EXAMPLES])
            more = f" (and {len(msgs) - MAX_EXAMPLES} more)" if len(msgs) > MAX_EXAMPLES else ""
            out.append(f"{kind}: {len(msgs)} case(s): {shown}{more}")
        return out


def validate_submission(
    results,
    image_info: Dict,
    max_dets_per_image: Optional[int] = 300,
    dets_per_class: Optional[int] = None,
    require_segmentation: bool = False,
) -> List[str]:
    """Problems of ``results`` (the parsed results json) against ``image_info`` (the parsed
    test-dev / val json: ``images``, ``categories``), one line per kind of problem with a count and
    examples; an empty list means the file is valid.

    Checks: a list of objects; keys image_id, category_id, bbox, score (and segmentation when
    required or present); image ids of the json; category ids that are the json's 1-based LVIS ids;
    boxes [x, y, w, h] with w, h > 0 inside the image; scores in [0, 1]; RLE segmentations of the
    image's size; at most ``max_dets_per_image`` per image (LVIS: 300) or, for AP^Fixed
    submissions, ``dets_per_class`` per class over the file.
    """
    p = _Problems()
    if not isinstance(results, list):
        return [
            f"format: the file must hold a JSON list of detections, not {type(results).__name__}"
        ]
    if not results:
        return ["format: the file holds no detection"]
    images = {img["id"]: img for img in image_info["images"]}
    cat_ids = {c["id"] for c in image_info["categories"]}
    used_categories = set()
    per_image, per_class = Counter(), Counter()
    for i, r in enumerate(results):
        where = f"#{i}"
        if not isinstance(r, dict):
            p.add("format", f"{where} is not an object")
            continue
        missing = [k for k in ("image_id", "category_id", "bbox", "score") if k not in r]
        if require_segmentation and "segmentation" not in r:
            missing.append("segmentation")
        if missing:
            p.add("missing keys", f"{where} lacks {missing}")
            continue
        if not _is_int(r["image_id"]):
            p.add(
                "image_id type",
                f"{where}: image_id {r['image_id']!r} is a {type(r['image_id']).__name__}, "
                "not an integer",
            )
            continue
        img = images.get(r["image_id"])
        where = f"#{i} (image {r['image_id']})"
        if img is None:
            p.add("unknown image_id", f"{where}: not an image of the json")
        if not _is_int(r["category_id"]):
            p.add(
                "category_id type",
                f"{where}: category_id {r['category_id']!r} is a "
                f"{type(r['category_id']).__name__}, not an integer",
            )
            continue
        if r["category_id"] not in cat_ids:
            hint = " (0-based contiguous id? LVIS ids start at 1)" if r["category_id"] == 0 else ""
            p.add("unknown category_id", f"{where}: category_id {r['category_id']}{hint}")
        used_categories.add(r["category_id"])
        per_image[r["image_id"]] += 1
        per_class[r["category_id"]] += 1
        _check_box(p, where, r["bbox"], img)
        s = r["score"]
        if (
            not isinstance(s, (int, float))
            or isinstance(s, bool)
            or not 0 <= s <= 1
            or (isinstance(s, float) and math.isnan(s))
        ):
            p.add("score", f"{where}: score {s!r} not in [0, 1]")
        if "segmentation" in r:
            _check_rle(p, where, r["segmentation"], img)
    if max_dets_per_image is not None and max_dets_per_image >= 0:
        for img_id, n in per_image.items():
            if n > max_dets_per_image:
                p.add("per-image cap", f"image {img_id} has {n} > {max_dets_per_image}")
    if dets_per_class is not None:
        for cat_id, n in per_class.items():
            if n > dets_per_class:
                p.add("per-class cap", f"category {cat_id} has {n} > {dets_per_class}")
    return p.lines()


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def shifted_category_ids(results, image_info: Dict) -> Optional[str]:
    """A warning when the results look like 0-based contiguous category ids (shifted by one from
    LVIS's 1-based ids): most classes are predicted but never the last id, while the id just
    below it is; else None."""
    ids = sorted(c["id"] for c in image_info["categories"])
    used = {r.get("category_id") for r in results if isinstance(r, dict)}
    used = {c for c in used if _is_int(c)}
    if len(ids) < 3 or len(used) < len(ids) // 2 or ids[-1] in used or ids[-2] not in used:
        return None
    if ids != list(range(ids[0], ids[0] + len(ids))):
        return None
    return (
        f"category ids: {len(used)} of {len(ids)} classes are predicted, but never the last id "
        f"{ids[-1]}: are these 0-based contiguous ids shifted by one? LVIS ids start at {ids[0]}"
    )


def check_image_info(image_info, path: str) -> None:
    """Raises a UserError naming the file and entry when an image-info json lacks what the
    validator needs."""

    if not isinstance(image_info, dict):
        raise UserError(f"{path}: top level must be an object (an LVIS image-info json)")
    for key in ("images", "categories"):
        if not isinstance(image_info.get(key), list):
            raise UserError(f"{path}: field '{key}' missing or not a list")
    for k, img in enumerate(image_info["images"]):
        for key in ("id", "width", "height"):
            if not isinstance(img, dict) or key not in img:
                raise UserError(f"{path}: images[{k}] has no field '{key}'")
    for k, cat in enumerate(image_info["categories"]):
        if not isinstance(cat, dict) or "id" not in cat:
            raise UserError(f"{path}: categories[{k}] has no field 'id'")


def _check_box(p: _Problems, where: str, box, img: Optional[Dict]):
    if not (
        isinstance(box, Sequence)
        and len(box) == 4
        and all(isinstance(v, (int, float)) and math.isfinite(v) for v in box)
    ):
        p.add("bbox", f"{where}: bbox {box!r} is not [x, y, w, h] of 4 finite numbers")
        return
    x, y, w, h = box
    if w <= 0 or h <= 0:
        p.add("bbox", f"{where}: bbox {box} has width or height <= 0")
    elif img is not None and (
        x < -1 or y < -1 or x + w > img["width"] + 1 or y + h > img["height"] + 1
    ):
        p.add(
            "bbox",
            f"{where}: bbox {box} leaves the {img['width']}x{img['height']} image "
            "(XYXY instead of XYWH?)",
        )


def _check_rle(p: _Problems, where: str, segm, img: Optional[Dict]):
    if not (isinstance(segm, dict) and "size" in segm and "counts" in segm):
        p.add("segmentation", f"{where}: not an RLE dict with 'size' and 'counts'")
        return
    if not isinstance(segm["counts"], str):
        p.add("segmentation", f"{where}: RLE 'counts' must be a string (compressed RLE)")
        return
    if img is not None and list(segm["size"]) != [img["height"], img["width"]]:
        p.add(
            "segmentation",
            f"{where}: RLE size {segm['size']} is not the image's "
            f"[{img['height']}, {img['width']}]",
        )
        return
    try:
        mask_util.area({"size": list(segm["size"]), "counts": segm["counts"].encode()})
    except Exception as e:  # pycocotools raises plain exceptions on bad strings
        p.add("segmentation", f"{where}: RLE does not decode ({e})")
