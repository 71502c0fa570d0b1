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


class SyntheticPredictions:
    """Per-image predicted ``Instances`` for an LVIS-format ground truth, built with numpy (for
    benchmarks at LVIS size): noisy copies of each object (1-3 each, 20% with a wrong class),
    then false positives of the image's positive or negative classes or any class, up to
    ``dets_per_image``; boxes in XYXY, contiguous classes (json id - 1, LVIS's contiguous ids),
    masks (optional) are the filled boxes at image size. ``len()`` images; ``instances(i)`` builds
    image ``i``'s on demand (masks make them large)."""

    def __init__(self, gt: Dict, dets_per_image: int = 300, seed: int = 0):
        rng = np.random.default_rng(seed)
        num_classes = max(c["id"] for c in gt["categories"])
        anns: Dict[int, List] = {}
        for a in gt.get("annotations", []):
            anns.setdefault(a["image_id"], []).append((a["bbox"], a["category_id"]))
        self.image_ids, self.sizes, self._rows = [], [], []
        for img in gt["images"]:
            h, w = img["height"], img["width"]
            objs = anns.get(img["id"], [])
            boxes = np.array([b for b, _ in objs], np.float64).reshape(-1, 4)
            cats = np.array([c for _, c in objs], np.int64)
            copies = np.repeat(np.arange(len(objs)), rng.integers(1, 4, len(objs)))
            tp = (
                boxes[copies]
                + rng.normal(0, 0.08, (len(copies), 4)) * boxes[copies][:, [2, 3, 2, 3]]
            )
            tp_cats = np.where(
                rng.random(len(copies)) < 0.8,
                cats[copies],
                rng.integers(1, num_classes + 1, len(copies)),
            )
            n_fp = max(0, dets_per_image - len(copies))
            pool = np.concatenate([cats, np.asarray(img.get("neg_category_ids", []), np.int64)])
            fp_cats = rng.integers(1, num_classes + 1, n_fp)
            if len(pool):
                own = rng.random(n_fp) < 0.5
                fp_cats[own] = pool[rng.integers(0, len(pool), int(own.sum()))]
            fw, fh = rng.uniform(4, w / 2, n_fp), rng.uniform(4, h / 2, n_fp)
            fp = np.stack(
                [rng.uniform(0, 1, n_fp) * (w - fw), rng.uniform(0, 1, n_fp) * (h - fh), fw, fh], 1
            )
            xywh = np.concatenate([tp, fp])[: max(dets_per_image, len(copies))]
            xywh[:, :2] = np.clip(xywh[:, :2], 0, [w - 2, h - 2])  # >= 1 px inside the image
            xywh[:, 2:] = np.maximum(xywh[:, 2:], 2.0)
            xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
            xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, w)
            xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, h)
            scores = np.concatenate([rng.uniform(0.2, 1.0, len(tp)), rng.uniform(0.0, 0.6, n_fp)])
            classes = np.concatenate([tp_cats, fp_cats])[: len(xyxy)] - 1
            self.image_ids.append(img["id"])
            self.sizes.append((h, w))
            self._rows.append(
                (xyxy.astype(np.float32), scores[: len(xyxy)].astype(np.float32), classes)
            )

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def num_detections(self) -> int:
        return sum(len(r[0]) for r in self._rows)

    def instances(self, i: int, with_masks: bool = False):
        import torch
        from detectron2.structures import Boxes, Instances

        boxes, scores, classes = self._rows[i]
        h, w = self.sizes[i]
        inst = Instances((h, w))
        inst.pred_boxes = Boxes(torch.from_numpy(boxes))
        inst.scores = torch.from_numpy(scores)
        inst.pred_classes = torch.from_numpy(classes)
        if with_masks:
            masks = torch.zeros((len(boxes), h, w), dtype=torch.bool)
            for k, (x0, y0, x1, y1) in enumerate(np.round(boxes).astype(int).tolist()):
                masks[k, y0:y1, x0:x1] = True
            inst.pred_masks = masks
        return inst
