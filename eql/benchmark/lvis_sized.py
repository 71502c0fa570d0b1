"""A generated LVIS v1-sized json (no images) for measuring loading and evaluation at full scale.

The shape follows LVIS v1: its 1,203 categories (names, synonyms, r/c/f bins from detectron2's
copy of the LVIS metadata); each category is in ``image_count x num_images / 100,170`` images
(LVIS v1 train's per-category image counts, scaled; rounded at random so that the expectation is
exact); each (image, category) pair has a geometric number of instances, scaled so that the json
has exactly ``num_annotations``; COCO-like image ids, sizes and ``coco_url``; federated labels:
0-7 ``neg_category_ids`` among the categories absent from the image and, for 1 in 10 annotated
categories, a ``not_exhaustive_category_ids`` entry. Each annotation has a box and a polygon of
10-90 vertices (LVIS's polygons make its json ~1 GB at train size); boxes and polygons carry 2
decimals, as LVIS's.

LVIS v1: train 100,170 images / 1,270,141 annotations; val 19,809 / 244,707.
"""

import json
import os
from typing import Dict, Iterator, List, Tuple

import numpy as np

from ..data.lvis_format import lvis_v1_categories
from ..utils.io import atomic_write

LVIS_V1_SIZES = {"train": (100_170, 1_270_141), "val": (19_809, 244_707)}
IMAGE_SIZES = ((640, 480), (640, 427), (480, 640), (640, 426), (500, 375), (427, 640), (640, 512))
CHUNK = 20_000


def _pairs(rng, categories: List[Dict], num_images: int) -> Tuple[np.ndarray, np.ndarray]:
    """(image index, category id) pairs, image-major."""
    scale = num_images / LVIS_V1_SIZES["train"][0]
    images, cats = [], []
    for c in categories:
        expected = c["image_count"] * scale
        k = min(num_images, int(expected) + int(rng.random() < expected % 1))
        images.append(rng.choice(num_images, k, replace=False))
        cats.append(np.full(k, c["id"], np.int64))
    images, cats = np.concatenate(images), np.concatenate(cats)
    order = np.lexsort((cats, images))
    return images[order], cats[order]


def _instances_per_pair(rng, num_pairs: int, num_annotations: int) -> np.ndarray:
    if num_annotations < num_pairs:
        raise ValueError(f"num_annotations ({num_annotations}) < annotated pairs ({num_pairs})")
    counts = rng.geometric(num_pairs / num_annotations, num_pairs)
    excess = int(counts.sum()) - num_annotations
    while excess > 0:  # take one instance from random pairs that have more than one
        take = rng.permutation(np.flatnonzero(counts > 1))[:excess]
        counts[take] -= 1
        excess -= len(take)
    if excess < 0:
        np.add.at(counts, rng.integers(0, num_pairs, -excess), 1)
    return counts


def _images(rng, num_images: int, split: str, pairs_img, pairs_cat, cat_ids):
    """(image ids, (w, h) sizes, json rows)."""
    ids = np.sort(rng.choice(600_000, num_images, replace=False) + 1)
    sizes = np.array(IMAGE_SIZES)[rng.integers(0, len(IMAGE_SIZES), num_images)]
    starts = np.searchsorted(pairs_img, np.arange(num_images + 1))
    num_neg = rng.integers(0, 8, num_images)
    rows = []
    for i in range(num_images):
        positive = pairs_cat[starts[i] : starts[i + 1]]
        neg = np.setdiff1d(rng.choice(cat_ids, num_neg[i] + 2, replace=False), positive)
        not_exhaustive = positive[rng.random(len(positive)) < 0.1]
        rows.append(
            '{"id": %d, "width": %d, "height": %d, "license": 1, "date_captured": '
            '"2013-11-14 16:28:13", "coco_url": "http://images.cocodataset.org/%s2017/%012d.jpg",'
            ' "flickr_url": "http://farm4.staticflickr.com/%d.jpg", "neg_category_ids": %s, '
            '"not_exhaustive_category_ids": %s}'
            % (
                ids[i],
                sizes[i][0],
                sizes[i][1],
                split,
                ids[i],
                ids[i],
                sorted(neg[: num_neg[i]].tolist()),
                not_exhaustive.tolist(),
            )
        )
    return ids, sizes, rows


def _annotation_rows(rng, first_id, image_ids, sizes, cats) -> List[str]:
    """json rows of annotations ``first_id``, ... of the given images and categories."""
    n = len(cats)
    w, h = sizes[:, 0].astype(np.float64), sizes[:, 1].astype(np.float64)
    bw = np.maximum(2.0, w * rng.beta(1.2, 4.0, n))
    bh = np.maximum(2.0, h * rng.beta(1.2, 4.0, n))
    x = (w - bw) * rng.random(n)
    y = (h - bh) * rng.random(n)
    vertices = rng.integers(10, 91, n)
    owner = np.repeat(np.arange(n), vertices)
    angles = rng.random(vertices.sum()) * 2 * np.pi
    angles = angles[np.lexsort((angles, owner))]  # around the centre: a simple polygon
    px = x[owner] + bw[owner] * (0.5 + 0.5 * np.cos(angles))
    py = y[owner] + bh[owner] * (0.5 + 0.5 * np.sin(angles))
    coords = np.round(np.stack([px, py], 1), 2).reshape(-1).tolist()
    ends = np.cumsum(2 * vertices).tolist()
    boxes = np.round(np.stack([x, y, bw, bh], 1), 2).tolist()
    area = np.round(bw * bh * np.pi / 4, 2).tolist()
    rows, start = [], 0
    for k in range(n):
        rows.append(
            '{"id": %d, "image_id": %d, "category_id": %d, "bbox": %r, "area": %r, '
            '"segmentation": [%r]}'
            % (first_id + k, image_ids[k], cats[k], boxes[k], area[k], coords[start : ends[k]])
        )
        start = ends[k]
    return rows


def lvis_sized_json_chunks(
    num_images: int, num_annotations: int, split: str = "train", seed: int = 0
) -> Iterator[str]:
    """The json text in pieces (memory stays at a chunk of annotations)."""
    rng = np.random.default_rng(seed)
    categories = lvis_v1_categories()
    pairs_img, pairs_cat = _pairs(rng, categories, num_images)
    per_pair = _instances_per_pair(rng, len(pairs_img), num_annotations)
    cat_ids = np.array([c["id"] for c in categories])
    ids, sizes, image_rows = _images(rng, num_images, split, pairs_img, pairs_cat, cat_ids)
    yield '{"info": {"description": "generated, LVIS v1-sized (eql)"}, "licenses": [], "images": ['
    yield ", ".join(image_rows)
    yield '], "categories": ' + json.dumps(categories) + ', "annotations": ['
    ann_img = np.repeat(pairs_img, per_pair)
    ann_cat = np.repeat(pairs_cat, per_pair)
    for start in range(0, num_annotations, CHUNK):
        stop = min(start + CHUNK, num_annotations)
        index = ann_img[start:stop]
        rows = _annotation_rows(rng, start + 1, ids[index], sizes[index], ann_cat[start:stop])
        yield (", " if start else "") + ", ".join(rows)
    yield "]}"


def write_lvis_sized_json(
    path: str, num_images: int, num_annotations: int, split: str = "train", seed: int = 0
) -> str:
    """Writes the json to ``path`` (atomically) unless a file is already there; returns path."""
    if not os.path.exists(path):
        with atomic_write(path) as f:
            for piece in lvis_sized_json_chunks(num_images, num_annotations, split, seed):
                f.write(piece)
    return path
