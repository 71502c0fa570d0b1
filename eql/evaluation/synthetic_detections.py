"""Generated detections for an LVIS-format ground truth, to test and benchmark evaluation.

For every image: noisy copies of its ground-truth objects (box jitter, sometimes the wrong class),
then false positives of random classes (the image's positive, negative and other classes), up to
``dets_per_image`` detections with random scores. Masks, when asked for, are RLEs of boxes or of
the jittered polygons, with their pixel ``area`` (as eql's evaluator writes them).
"""

from typing import Dict, List

import numpy as np
import pycocotools.mask as mask_util


def _rle(poly_or_box, h, w, is_box):
    if is_box:
        x, y, bw, bh = poly_or_box
        poly = [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]]
    else:
        poly = poly_or_box
    rle = mask_util.merge(mask_util.frPyObjects(poly, h, w))
    area = float(mask_util.area(rle))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle, area


def generate_detections(
    gt: Dict, dets_per_image: int = 300, seed: int = 0, with_masks: bool = False
) -> List[Dict]:
    """LVIS result dicts for the images of ``gt`` (a parsed LVIS json)."""
    rng = np.random.default_rng(seed)
    cat_ids = np.array(sorted(c["id"] for c in gt["categories"]))
    anns = {}
    for a in gt.get("annotations", []):
        anns.setdefault(a["image_id"], []).append(a)
    out = []
    for img in gt["images"]:
        h, w = img["height"], img["width"]
        dets = []
        for a in anns.get(img["id"], []):
            for _ in range(int(rng.integers(1, 4))):
                x, y, bw, bh = a["bbox"]
                jitter = rng.normal(0, 0.08, 4) * [bw, bh, bw, bh]
                box = [
                    max(0.0, x + jitter[0]),
                    max(0.0, y + jitter[1]),
                    max(1.0, bw + jitter[2]),
                    max(1.0, bh + jitter[3]),
                ]
                cat = a["category_id"] if rng.random() < 0.8 else int(rng.choice(cat_ids))
                det = {
                    "image_id": img["id"],
                    "category_id": int(cat),
                    "bbox": [round(float(v), 2) for v in box],
                    "score": round(float(rng.uniform(0.2, 1.0)), 6),
                }
                if with_masks:
                    if rng.random() < 0.5 and "segmentation" in a:
                        poly = [
                            [float(v) + float(rng.normal(0, 1.0)) for v in p]
                            for p in a["segmentation"]
                        ]
                        det["segmentation"], det["area"] = _rle(poly, h, w, False)
                    else:
                        det["segmentation"], det["area"] = _rle(det["bbox"], h, w, True)
                dets.append(det)
        img_cats = list(img.get("neg_category_ids", [])) + [
            a["category_id"] for a in anns.get(img["id"], [])
        ]
        while len(dets) < dets_per_image:
            if img_cats and rng.random() < 0.5:
                cat = int(rng.choice(img_cats))
            else:
                cat = int(rng.choice(cat_ids))
            bw, bh = rng.uniform(4, w / 2), rng.uniform(4, h / 2)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            det = {
                "image_id": img["id"],
                "category_id": cat,
                "bbox": [round(float(v), 2) for v in (x, y, bw, bh)],
                "score": round(float(rng.uniform(0.0, 0.6)), 6),
            }
            if with_masks:
                det["segmentation"], det["area"] = _rle(det["bbox"], h, w, True)
            dets.append(det)
        out.extend(dets[: max(dets_per_image, len(dets))])
    return out
