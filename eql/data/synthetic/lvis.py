"""A synthetic long-tailed dataset in LVIS v1 format, with real image files.

Each class is a (shape, colour, texture) triple, e.g. "red_striped_circle", so that a detector can
learn every class from pixels. Objects are drawn without overlap on a noisy background, and each
annotation carries the object's polygon, box and area.

Long tail. The image count of each training class is set before drawing: classes are split into
LVIS v1's bin proportions (337 rare, 461 common, 405 frequent of 1,203 classes) and, inside each
bin, the counts fall log-linearly with the rank (a Zipf-like rank-frequency curve). LVIS's bin
edges are 10 and 100 training images, one decade apart, on ~100k images; here the decade is kept
and anchored to the set's size:

    rare:     1 <= image_count <= rare_max,   rare_max   = max(1, round(0.01 * num_train_images))
    common:   rare_max < image_count <= common_max, common_max = max(rare_max + 1, 10 * rare_max)
    frequent: common_max < image_count <= max(common_max + 1, 0.5 * num_train_images)

The categories' ``frequency`` field is the bin of the counted ``image_count`` of the written
training json, so a consumer that recomputes bins from the json finds the same ones.

Image-level labels as in LVIS: ``neg_category_ids`` lists a few classes verified absent from an
image; ``not_exhaustive_category_ids`` lists classes of which the image has an instance left
unannotated (drawn, but with no annotation), as in LVIS's federated labelling.
"""

import logging
import math
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ...utils.io import write_json_atomic
from .classes import SyntheticClass, class_catalogue
from .draw import place_objects, polygon_area, render_image
from .long_tail_profile import (
    LVIS_BIN_EDGES,
    bin_edges,
    frequency_of,
    lvis_v1_profile_counts,
    target_image_counts,
)

logger = logging.getLogger(__name__)


def _assign_train_classes(
    rng, counts: Sequence[int], num_images: int, max_objects: int, num_classes: int
) -> List[List[int]]:
    """Classes present in each training image, so that class j is in ``counts[j]`` images."""
    per_image: List[List[int]] = [[] for _ in range(num_images)]
    for j in np.argsort(-np.asarray(counts), kind="stable"):
        free = [i for i in range(num_images) if len(per_image[i]) < max_objects]
        if not free:
            break
        load = np.array([len(per_image[i]) for i in free], dtype=np.float64)
        weights = np.exp(-load)
        weights /= weights.sum()
        n = min(counts[j], len(free))
        for i in rng.choice(free, size=n, replace=False, p=weights):
            per_image[int(i)].append(int(j))
    # Every image gets at least one object: the most frequent class.
    top = int(np.argmax(counts))
    for classes in per_image:
        if not classes:
            classes.append(top)
    return per_image


VAL_CLASS_WEIGHTS = ("sqrt", "uniform")


def _assign_val_classes(
    rng, counts: Sequence[int], num_images: int, max_objects: int, weighting: str = "sqrt"
) -> List[List[int]]:
    """Val images: classes drawn with weights sqrt(train count) ("sqrt") or all alike
    ("uniform"), every class at least once when there are enough object slots (LVIS val also
    covers rare classes)."""
    num_classes = len(counts)
    weights = np.asarray(counts, dtype=np.float64)
    weights = np.sqrt(weights) if weighting == "sqrt" else np.ones_like(weights)
    weights /= weights.sum()
    per_image: List[List[int]] = [[] for _ in range(num_images)]
    order = list(rng.permutation(num_classes))
    slots = [i for i in range(num_images) for _ in range(max_objects)]
    for i, j in zip(rng.permutation(len(slots)), order):
        img = slots[i]
        if j not in per_image[img] and len(per_image[img]) < max_objects:
            per_image[img].append(int(j))
    for classes in per_image:
        k = int(rng.integers(1, max_objects + 1))
        while len(classes) < k:
            j = int(rng.choice(num_classes, p=weights))
            if j not in classes:
                classes.append(j)
    return per_image


def _write_split(
    split: str,
    out_dir: str,
    per_image_classes: List[List[int]],
    classes: List[SyntheticClass],
    rng,
    image_size: int,
    instances_per_class: Tuple[int, int],
    not_exhaustive_prob: float,
    num_neg: int,
    first_ann_id: int,
    progress: bool,
    write_images: bool = True,
    each_class_placed: bool = False,
) -> Dict:
    """``each_class_placed``: every present class's first instance is placed before any second
    instance, so that placement (which drops objects that do not fit) keeps every class of the
    image and the class profile holds exactly."""
    from tqdm import tqdm

    image_dir = os.path.join(out_dir, split)
    if write_images:
        os.makedirs(image_dir, exist_ok=True)
    num_classes = len(classes)
    images, annotations = [], []
    ann_id = first_ann_id
    iterator = enumerate(per_image_classes)
    if progress:
        iterator = tqdm(
            iterator,
            total=len(per_image_classes),
            desc=f"synthetic {split}",
            unit="img",
            mininterval=1.0,
        )
    for idx, present in iterator:
        image_id = idx + 1
        # instances per present class, then placement (objects that do not fit are dropped)
        wanted = []
        for j in present:
            wanted += [j] * int(rng.integers(instances_per_class[0], instances_per_class[1] + 1))
        order = rng.permutation(len(wanted))
        wanted = [wanted[k] for k in order]
        if each_class_placed:
            firsts = sorted({j: k for k, j in reversed(list(enumerate(wanted)))}.values())
            wanted = [wanted[k] for k in firsts] + [
                j for k, j in enumerate(wanted) if k not in set(firsts)
            ]
        spots = place_objects(
            rng,
            len(wanted),
            image_size,
            0.22,
            0.45,
            at_least=len(set(wanted)) if each_class_placed else 0,
        )
        drawn = list(zip(wanted, spots))
        canvas, polygons = render_image(
            rng, image_size, [(classes[j], s) for j, s in drawn], draw=write_images
        )
        file_name = f"{image_id:06d}.png"
        if write_images:
            canvas.save(os.path.join(image_dir, file_name))

        drawn_classes = sorted({j for j, _ in drawn})
        # not exhaustive: a class with >= 2 drawn instances may leave its last one unannotated
        not_exhaustive, skip = [], set()
        for j in drawn_classes:
            idxs = [k for k, (c, _) in enumerate(drawn) if c == j]
            if len(idxs) >= 2 and rng.random() < not_exhaustive_prob:
                not_exhaustive.append(j)
                skip.add(idxs[-1])
        absent = [j for j in range(num_classes) if j not in drawn_classes]
        neg = (
            sorted(
                int(j) for j in rng.choice(absent, size=min(num_neg, len(absent)), replace=False)
            )
            if absent
            else []
        )
        for k, ((j, _), poly) in enumerate(zip(drawn, polygons)):
            if k in skip:
                continue
            xs, ys = poly[0::2], poly[1::2]
            x0, y0 = max(0.0, min(xs)), max(0.0, min(ys))
            x1, y1 = min(float(image_size), max(xs)), min(float(image_size), max(ys))
            annotations.append(
                {
                    "id": ann_id,
                    "image_id": image_id,
                    "category_id": j + 1,
                    "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
                    "area": round(polygon_area(poly), 2),
                    "segmentation": [poly],
                }
            )
            ann_id += 1
        images.append(
            {
                "id": image_id,
                "file_name": file_name,
                "height": image_size,
                "width": image_size,
                "neg_category_ids": [j + 1 for j in neg],
                "not_exhaustive_category_ids": [j + 1 for j in not_exhaustive],
                "license": 1,
            }
        )
    return {"images": images, "annotations": annotations}


def _categories(
    classes: List[SyntheticClass], split_data: Dict, rare_max: int, common_max: int
) -> List[Dict]:
    image_sets = [set() for _ in classes]
    instance_count = [0] * len(classes)
    for ann in split_data["annotations"]:
        image_sets[ann["category_id"] - 1].add(ann["image_id"])
        instance_count[ann["category_id"] - 1] += 1
    cats = []
    for j, cls in enumerate(classes):
        n = len(image_sets[j])
        cats.append(
            {
                "id": j + 1,
                "name": cls.name,
                "synset": f"{cls.name}.n.01",
                "synonyms": [cls.name],
                "def": f"a {cls.texture} {cls.colour} {cls.shape}",
                "frequency": frequency_of(max(n, 1), rare_max, common_max),
                "image_count": n,
                "instance_count": instance_count[j],
            }
        )
    return cats


def _profile(profile, num_classes, num_train_images, max_objects, max_images_per_class):
    """(target image count of each class by rank, (rare_max, common_max))."""
    if profile == "anchored":
        return target_image_counts(num_classes, num_train_images), bin_edges(num_train_images)
    if profile != "lvis":
        raise ValueError(f"profile must be 'anchored' or 'lvis', got {profile!r}")
    counts = lvis_v1_profile_counts(num_classes, max_images_per_class)
    slots = num_train_images * max_objects
    if sum(counts) > slots or max(counts) > num_train_images:
        need = max(math.ceil(sum(counts) / max_objects), max(counts))
        raise ValueError(
            f"profile 'lvis' with {num_classes} classes and max_images_per_class "
            f"{max_images_per_class} needs num_train_images >= {need} (got {num_train_images})"
        )
    return counts, LVIS_BIN_EDGES


def generate_synthetic_lvis(
    output_dir: str,
    num_train_images: int = 300,
    num_val_images: int = 100,
    num_classes: int = 24,
    image_size: int = 128,
    max_objects_per_image: int = 3,
    seed: int = 0,
    progress: bool = True,
    write_images: bool = True,
    profile: str = "anchored",
    max_images_per_class: int = 200,
    val_class_weights: str = "sqrt",
) -> Dict[str, str]:
    """Writes ``<output_dir>/{train,val}/*.png`` and ``<output_dir>/annotations/
    lvis_synthetic_{train,val}.json``. Deterministic for a given set of arguments; with
    ``write_images=False`` the same jsons are written without image files (for evaluation).

    ``profile``: "anchored" (the module doc's bins, anchored to the set's size) or "lvis" (LVIS
    v1's own bins 1-10 / 11-100 / > 100 images and counts, :func:`lvis_v1_profile_counts`, the
    most frequent class in ``max_images_per_class`` images; the set must have enough object slots,
    ``num_train_images x max_objects_per_image``, for every class's count).

    ``val_class_weights``: how val images draw their classes, "sqrt" (weights sqrt(training
    count): the long tail, flattened) or "uniform" (every class alike, so that each class's AP
    is measured on as many instances; the long-tail benchmark's choice).

    Returns:
        dict: split name -> json path, plus "train_images"/"val_images" -> image folder.
    """
    if num_train_images < 1 or num_val_images < 1:
        raise ValueError("num_train_images and num_val_images must be >= 1")
    if image_size < 32:
        raise ValueError(f"image_size must be >= 32, got {image_size}")
    if max_objects_per_image < 1:
        raise ValueError("max_objects_per_image must be >= 1")
    if val_class_weights not in VAL_CLASS_WEIGHTS:
        raise ValueError(
            f"val_class_weights must be one of {VAL_CLASS_WEIGHTS}, got {val_class_weights!r}"
        )
    classes = class_catalogue(num_classes)
    rng = np.random.default_rng(seed)
    train_rng, val_rng = [np.random.default_rng(s) for s in rng.integers(0, 2**31, size=2)]
    counts, (rare_max, common_max) = _profile(
        profile, num_classes, num_train_images, max_objects_per_image, max_images_per_class
    )
    # class ranks are shuffled so that the tail is not always the same shapes
    rank_to_class = rng.permutation(num_classes)
    counts_by_class = [0] * num_classes
    for rank, j in enumerate(rank_to_class):
        counts_by_class[int(j)] = counts[rank]

    ann_dir = os.path.join(output_dir, "annotations")
    os.makedirs(ann_dir, exist_ok=True)
    out = {}
    # each object slot holds one class; 1-2 instances of it are drawn
    for split, n, split_rng in (
        ("train", num_train_images, train_rng),
        ("val", num_val_images, val_rng),
    ):
        if split == "train":
            per_image = _assign_train_classes(
                split_rng, counts_by_class, n, max_objects_per_image, num_classes
            )
        else:
            per_image = _assign_val_classes(
                split_rng, counts_by_class, n, max_objects_per_image, val_class_weights
            )
        data = _write_split(
            split,
            output_dir,
            per_image,
            classes,
            split_rng,
            image_size,
            (1, 2),
            0.3,
            3,
            1,
            progress,
            write_images,
            each_class_placed=profile == "lvis",
        )
        if split == "train":
            categories = _categories(classes, data, rare_max, common_max)
        data["categories"] = categories
        data["info"] = {
            "description": "eql synthetic long-tailed LVIS-format dataset",
            "seed": seed,
            "num_classes": num_classes,
            "image_size": image_size,
            "rare_max_images": rare_max,
            "common_max_images": common_max,
        }
        data["licenses"] = [{"id": 1, "name": "CC0", "url": ""}]
        path = os.path.join(ann_dir, f"lvis_synthetic_{split}.json")
        write_json_atomic(path, data)
        out[split] = path
        out[f"{split}_images"] = os.path.join(output_dir, split)
    logger.info(f"Synthetic LVIS set written to {output_dir}")
    return out
