"""A generated long-tailed semantic-segmentation set (for tests and CPU quick schedules).

Class 0 is the ground (every image); object classes 1..C-1 appear in a long-tailed number of
training images, n_k = n_max IR^(-(k-1)/(C-2)), as 1-3 shapes per image. An object class has a
shape, a hue and a texture; neighbouring classes look alike (they compete). A one-pixel ring
around each object is left unlabelled (255, ignored), as annotators leave boundaries.

Layout under ``root``: ``{train,val}/images/*.png``, ``{train,val}/labels/*.png`` (uint8 class
ids) and ``meta.json`` (class names, training image counts, r/c/f bins: the object classes split in
thirds by training images, rarest third "r"; the ground "f").
"""

import json
import logging
import os
from typing import Dict, List

import numpy as np
from PIL import Image

from ...errors import UserError
from ...utils.io import write_json_atomic
from ..lvis_format import forget_dataset

logger = logging.getLogger(__name__)
IGNORE_LABEL = 255


def _object_counts(num_classes: int, num_images: int, imbalance_ratio: float) -> List[int]:
    k = num_classes - 1
    n_max = max(1, int(num_images * 0.6))
    return [max(1, int(n_max * imbalance_ratio ** (-i / max(1, k - 1)))) for i in range(k)]


def _draw(rng, c: int, num_classes: int, size: int, img: np.ndarray, label: np.ndarray):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cx, cy = rng.uniform(0.2, 0.8, size=2) * size
    r = rng.uniform(0.12, 0.22) * size
    kind = (c // 2) % 3
    if kind == 0:
        d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / r
    elif kind == 1:
        d = np.maximum(np.abs(xx - cx), np.abs(yy - cy)) / r
    else:
        d = (np.abs(xx - cx) + np.abs(yy - cy)) / r
    inside, ring = d < 1.0, (d >= 1.0) & (d < 1.0 + 1.5 / r)
    hue = c / num_classes
    colour = np.array([np.cos(2 * np.pi * (hue + j / 3)) * 0.35 + 0.5 for j in range(3)])
    stripes = 0.12 * np.sin(2 * np.pi * (2 + c % 4) * (xx + yy) / size)
    img[:, inside] = (colour[:, None] + stripes[inside][None]).clip(0, 1)
    label[ring & (label != IGNORE_LABEL)] = IGNORE_LABEL
    label[inside] = c


def generate_synthetic_semseg(
    root: str,
    num_train_images: int = 48,
    num_val_images: int = 16,
    num_classes: int = 10,
    image_size: int = 64,
    imbalance_ratio: float = 20.0,
    seed: int = 0,
) -> Dict:
    """Writes the set (see the module docstring); returns its meta dict."""
    rng = np.random.RandomState(seed)
    counts = _object_counts(num_classes, num_train_images, imbalance_ratio)
    names = ["ground"] + [f"object_{k}" for k in range(1, num_classes)]
    image_count = [0] * num_classes
    for split, n in (("train", num_train_images), ("val", num_val_images)):
        os.makedirs(os.path.join(root, split, "images"), exist_ok=True)
        os.makedirs(os.path.join(root, split, "labels"), exist_ok=True)
        # which images hold each object class: training images follow the profile, val images
        # hold every class about equally often
        holds: List[List[int]] = [[] for _ in range(n)]
        for k, cnt in enumerate(counts, start=1):
            m = min(n, cnt) if split == "train" else max(1, n // 3)
            for i in rng.choice(n, m, replace=False):
                holds[i].append(k)
        for i in range(n):
            img = np.full((3, image_size, image_size), 0.35, dtype=np.float32)
            img += rng.normal(0, 0.03, size=img.shape).astype(np.float32)
            label = np.zeros((image_size, image_size), dtype=np.uint8)
            for c in holds[i][:3]:
                _draw(rng, c, num_classes, image_size, img, label)
            img = (img + rng.normal(0, 0.06, size=img.shape)).clip(0, 1)
            if split == "train":
                for c in np.unique(label):
                    if c != IGNORE_LABEL:
                        image_count[int(c)] += 1
            stem = f"{i:05d}.png"
            Image.fromarray((img.transpose(1, 2, 0) * 255).astype(np.uint8)).save(
                os.path.join(root, split, "images", stem)
            )
            Image.fromarray(label).save(os.path.join(root, split, "labels", stem))
    objects = sorted(range(1, num_classes), key=lambda c: image_count[c])
    third = max(1, len(objects) // 3)
    frequency = ["f"] * num_classes
    for j, c in enumerate(objects):
        frequency[c] = "r" if j < third else "c" if j < 2 * third else "f"
    meta = {
        "classes": names,
        "image_count": image_count,
        "frequency": frequency,
        "num_train_images": num_train_images,
        "seed": seed,
    }
    write_json_atomic(os.path.join(root, "meta.json"), meta, indent=1)
    logger.info(f"Synthetic segmentation set written to {root}")
    return meta


def load_synthetic_semseg(root: str, split: str) -> List[Dict]:
    """detectron2 records of one split (``file_name``, ``sem_seg_file_name``, size, id)."""
    image_dir = os.path.join(root, split, "images")
    if not os.path.isdir(image_dir):

        raise UserError(f"{image_dir}: not found (a set written by generate_synthetic_semseg)")
    records = []
    for k, name in enumerate(sorted(os.listdir(image_dir))):
        with Image.open(os.path.join(image_dir, name)) as im:
            width, height = im.size
        records.append(
            {
                "file_name": os.path.join(image_dir, name),
                "sem_seg_file_name": os.path.join(root, split, "labels", name),
                "height": height,
                "width": width,
                "image_id": k,
            }
        )
    return records


def register_synthetic_semseg(root: str, prefix: str = "synthetic_semseg") -> List[str]:
    """Registers ``<prefix>_train`` / ``<prefix>_val``, evaluated as semantic segmentation with
    the r/c/f bins of ``meta.json``."""
    from detectron2.data import DatasetCatalog, MetadataCatalog

    meta_path = os.path.join(root, "meta.json")
    meta = {}
    if os.path.isfile(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
    names = []
    for split in ("train", "val"):
        name = f"{prefix}_{split}"
        forget_dataset(name)
        DatasetCatalog.register(name, lambda s=split: load_synthetic_semseg(root, s))
        MetadataCatalog.get(name).set(
            stuff_classes=meta.get("classes", []),
            ignore_label=IGNORE_LABEL,
            evaluator_type="sem_seg",
            class_frequency=meta.get("frequency", []),
            class_image_count=meta.get("image_count", []),
        )
        names.append(name)
    return names
