"""A seeded generator of adversarial LVIS evaluation inputs (tests/evaluation/test_lvis_parity.py):
small ground truths and results built to reach the corners where two LVIS engines can disagree.

Ground truth: 1-6 images (some without labels), 1-7 categories with non-contiguous ids (some
without ground truth), boxes partly outside the image, annotations of zero area, crowd flags,
federated label sets (negative and not-exhaustive categories). Results: copies of objects, random
boxes, zero-width / zero-height / out-of-image boxes, empty masks, detections only on pairs LVIS
does not evaluate, tied scores, more detections an image than the cap, no detections at all.
"""

from typing import Dict, List, Tuple

import numpy as np
import pycocotools.mask as mask_util

TIED_SCORES = (0.1, 0.3, 0.5, 0.5, 0.9)


def _polygon(x, y, w, h) -> List[float]:
    return [x, y, x + w, y, x + w, y + h, x, y + h]


def _rle(poly, h, w) -> Tuple[Dict, float]:
    rle = mask_util.merge(mask_util.frPyObjects([poly], h, w))
    area = float(mask_util.area(rle))
    return {"size": [h, w], "counts": rle["counts"].decode("ascii")}, area


def _empty_rle(h, w) -> Dict:
    rle = mask_util.encode(np.zeros((h, w, 1), np.uint8, order="F"))[0]
    return {"size": [h, w], "counts": rle["counts"].decode("ascii")}


def _ground_truth(rng) -> Dict:
    first_id = int(rng.choice([0, 1, 1, 1]))  # lvis-api reads a match with object id 0 as none
    ignore_flags = rng.random() < 0.05
    num_cats = int(rng.integers(1, 8))
    cat_ids = sorted(int(c) for c in rng.choice(np.arange(1, 60), num_cats, replace=False))
    categories = [
        {"id": c, "name": f"c{c}", "frequency": str(rng.choice(["r", "c", "f"]))} for c in cat_ids
    ]
    images, annotations = [], []
    image_ids = sorted(
        int(i) for i in rng.choice(np.arange(1, 100), int(rng.integers(1, 7)), False)
    )
    for img_id in image_ids:
        h, w = int(rng.integers(12, 220)), int(rng.integers(12, 220))
        present = set()
        for _ in range(int(rng.choice([0, 0, 1, 2, 3, 5]))):
            cat = int(rng.choice(cat_ids))
            bw, bh = float(rng.uniform(1, w * 0.8)), float(rng.uniform(1, h * 0.8))
            x, y = float(rng.uniform(-0.3 * bw, w - 0.5 * bw)), float(
                rng.uniform(-0.3 * bh, h - 0.5 * bh)
            )
            box = [round(v, 2) for v in (x, y, bw, bh)]
            poly = _polygon(*box)
            _, area = _rle(poly, h, w)
            ann = {
                "id": len(annotations) + first_id,
                "image_id": img_id,
                "category_id": cat,
                "bbox": box,
                "segmentation": [poly],
                "area": area,
            }
            kind = rng.random()
            if kind < 0.08:
                ann["area"] = 0.0  # lvis-api drops annotations of zero area
            elif kind < 0.14:
                ann["iscrowd"] = 1  # LVIS has no crowds: a crowd flag means nothing to lvis-api
            elif kind < 0.2:
                ann["area"] = round(box[2] * box[3], 2)  # the box's area, not the mask's
            elif ignore_flags and kind < 0.5:
                ann["ignore"] = 1  # honoured by lvis-api
            annotations.append(ann)
            present.add(cat)
        others = [c for c in cat_ids if c not in present]
        neg = [c for c in others if rng.random() < 0.4]
        not_exhaustive = [c for c in cat_ids if rng.random() < 0.15]
        images.append(
            {
                "id": img_id,
                "height": h,
                "width": w,
                "file_name": f"{img_id}.jpg",
                "neg_category_ids": neg,
                "not_exhaustive_category_ids": not_exhaustive,
            }
        )
    order = rng.permutation(len(images))
    return {
        "images": [images[k] for k in order],
        "categories": categories,
        "annotations": annotations,
    }


def _detections(rng, gt: Dict, with_masks: bool, per_image: int) -> List[Dict]:
    cat_ids = [c["id"] for c in gt["categories"]]
    by_image: Dict[int, List[Dict]] = {}
    for a in gt["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    tied = rng.random() < 0.5
    only_unevaluated = rng.random() < 0.08
    out = []
    for img in gt["images"]:
        h, w = img["height"], img["width"]
        anns = by_image.get(img["id"], [])
        evaluable = {a["category_id"] for a in anns} | set(img["neg_category_ids"])
        unevaluated = [c for c in cat_ids if c not in evaluable]
        n = int(rng.integers(0, per_image + 1))
        for _ in range(n):
            kind = rng.random()
            if anns and kind < 0.45:
                a = anns[int(rng.integers(len(anns)))]
                x, y, bw, bh = a["bbox"]
                jitter = rng.normal(0, 0.15, 4) * [bw, bh, bw, bh]
                box = [
                    x + jitter[0],
                    y + jitter[1],
                    max(bw + jitter[2], 0.5),
                    max(bh + jitter[3], 0.5),
                ]
                cat = a["category_id"] if rng.random() < 0.8 else int(rng.choice(cat_ids))
            else:
                bw, bh = float(rng.uniform(0.5, w * 0.7)), float(rng.uniform(0.5, h * 0.7))
                box = [float(rng.uniform(-bw / 2, w)), float(rng.uniform(-bh / 2, h)), bw, bh]
                cat = int(rng.choice(cat_ids))
            shape = rng.random()
            if shape < 0.07:
                box[2] = 0.0  # zero width
            elif shape < 0.12:
                box[3] = 0.0  # zero height
            elif shape < 0.17:
                box[0] = w + float(rng.uniform(1, 10))  # right of the image: an empty mask
            if only_unevaluated:
                if not unevaluated:
                    continue
                cat = int(rng.choice(unevaluated))
            box = [round(float(v), 2) for v in box]
            score = float(rng.choice(TIED_SCORES)) if tied else round(float(rng.random()), 6)
            det = {"image_id": img["id"], "category_id": cat, "bbox": box, "score": score}
            if with_masks:
                if box[2] == 0 or box[3] == 0 or rng.random() < 0.08:
                    det["segmentation"] = _empty_rle(h, w)
                else:
                    det["segmentation"], _ = _rle(_polygon(*box), h, w)
            out.append(det)
    return out


def adversarial_case(seed: int) -> Dict:
    """{"gt": LVIS-format dict, "results": result dicts, "iou_type", "max_dets"} of case
    ``seed``."""
    rng = np.random.default_rng(seed)
    gt = _ground_truth(rng)
    iou_type = "segm" if rng.random() < 0.4 else "bbox"
    max_dets = int(rng.choice([300, 300, 2, 4, -1]))
    per_image = int(rng.choice([0, 3, 8, 15]))
    if rng.random() < 0.02:  # more than LVIS's 300 an image
        gt["images"] = gt["images"][:2]
        keep = {img["id"] for img in gt["images"]}
        gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] in keep]
        max_dets, per_image = 300, 330
    results = _detections(rng, gt, iou_type == "segm", per_image)
    return {"gt": gt, "results": results, "iou_type": iou_type, "max_dets": max_dets}
