"""Loading and registering LVIS-format datasets, with the image-level label sets EQL needs.

Every record carries, besides detectron2's standard fields:
    "image_labels": {"positive": [...], "negative": [...], "not_exhaustive": [...]}
in contiguous class ids: the classes annotated in the image, the image's ``neg_category_ids``
(verified absent) and its ``not_exhaustive_category_ids``. The raw 1-based json ids stay in
"neg_category_ids" / "not_exhaustive_category_ids", as in detectron2's loader.
"""

import logging
import os
from typing import Dict, List, Optional

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode
from detectron2.utils.file_io import PathManager

from ..utils.gc_pause import gc_paused
from .category_stats import CategoryStats, load_or_compute_stats, stats_from_image_counts
from .lvis_json import DatasetFormatError, read_lvis_json

logger = logging.getLogger(__name__)

# Number of LVIS v1 train images with at least one annotation (f_j's denominator).
LVIS_V1_TRAIN_ANNOTATED_IMAGES = 99388


def image_path(image_root: str, img: Dict) -> str:
    """Where an image lives: LVIS's ``coco_url`` names the COCO split folder
    (``<root>/train2017/000000155379.jpg``); otherwise ``<root>/<file_name>``."""
    if "coco_url" in img:
        split_folder, file_name = img["coco_url"].split("/")[-2:]
        return os.path.join(image_root, split_folder, file_name)
    return os.path.join(image_root, img["file_name"])


def thing_classes_of(categories: List[Dict]) -> List[str]:
    """Class names in contiguous order (ascending id): the first synonym, as detectron2 does."""
    cats = sorted(categories, key=lambda c: c["id"])
    return [c["synonyms"][0] if c.get("synonyms") else c["name"] for c in cats]


def load_lvis_format_json(
    json_file: str,
    image_root: str,
    dataset_name: Optional[str] = None,
    check_image_files: bool = True,
) -> List[Dict]:
    """Loads an LVIS-format json into detectron2 dicts (see the module doc for the extra fields).

    Category ids are mapped to contiguous ids in ascending id order. When ``dataset_name`` is given,
    its metadata receives ``thing_classes``, ``thing_dataset_id_to_contiguous_id`` and, for a json
    with annotations, ``category_stats`` (:class:`CategoryStats`). The garbage collector is paused
    meanwhile (:func:`gc_paused`: a third less time at LVIS v1 train's size).
    """
    with gc_paused():
        return _load_lvis_format_json(json_file, image_root, dataset_name, check_image_files)


def _load_lvis_format_json(
    json_file: str, image_root: str, dataset_name: Optional[str], check_image_files: bool
) -> List[Dict]:
    data = read_lvis_json(json_file)
    categories = sorted(data["categories"], key=lambda c: c["id"])
    id_map = {c["id"]: j for j, c in enumerate(categories)}
    if dataset_name is not None:
        meta = MetadataCatalog.get(dataset_name)
        classes = thing_classes_of(categories)
        if hasattr(meta, "thing_classes") and len(meta.thing_classes) != len(classes):
            raise DatasetFormatError(
                f"{json_file}: {len(classes)} categories, but dataset '{dataset_name}' has "
                f"{len(meta.thing_classes)} thing_classes"
            )
        if not hasattr(meta, "thing_classes"):
            meta.thing_classes = classes
        if not hasattr(meta, "thing_dataset_id_to_contiguous_id"):
            meta.thing_dataset_id_to_contiguous_id = id_map
        if "annotations" in data and not hasattr(meta, "category_stats"):
            cache_dir = os.environ.get("EQL_CACHE_DIR")
            meta.category_stats = load_or_compute_stats(
                PathManager.get_local_path(json_file), data, cache_dir
            )

    anns_per_image: Dict[int, List[Dict]] = {img["id"]: [] for img in data["images"]}
    for ann in data.get("annotations", []):
        anns_per_image[ann["image_id"]].append(ann)

    records = []
    for img in sorted(data["images"], key=lambda x: x["id"]):
        file_name = image_path(image_root, img)
        if check_image_files and not os.path.isfile(file_name):
            raise DatasetFormatError(
                f"{json_file}: image file {file_name} of image id {img['id']} not found "
                f"(field 'file_name'/'coco_url', image root {image_root})"
            )
        objs = []
        for ann in anns_per_image[img["id"]]:
            obj = {
                "bbox": ann["bbox"],
                "bbox_mode": BoxMode.XYWH_ABS,
                "category_id": id_map[ann["category_id"]],
            }
            if "segmentation" in ann:
                obj["segmentation"] = ann["segmentation"]
            objs.append(obj)
        neg = img.get("neg_category_ids", [])
        not_exhaustive = img.get("not_exhaustive_category_ids", [])
        records.append(
            {
                "file_name": file_name,
                "height": img["height"],
                "width": img["width"],
                "image_id": img["id"],
                "annotations": objs,
                "neg_category_ids": list(neg),
                "not_exhaustive_category_ids": list(not_exhaustive),
                "image_labels": {
                    "positive": sorted({o["category_id"] for o in objs}),
                    "negative": sorted(id_map[c] for c in neg),
                    "not_exhaustive": sorted(id_map[c] for c in not_exhaustive),
                },
            }
        )
    logger.info(f"Loaded {len(records)} images in LVIS format from {json_file}")
    return records


def register_lvis_format_dataset(
    name: str, json_file: str, image_root: str, metadata: Optional[Dict] = None
) -> None:
    """Registers an LVIS-format json + image folder as a detectron2 dataset named ``name``,
    evaluated with eql's LVIS evaluator. Usable in ``DATASETS.TRAIN`` / ``DATASETS.TEST``."""
    DatasetCatalog.register(name, lambda: load_lvis_format_json(json_file, image_root, name))
    MetadataCatalog.get(name).set(
        json_file=json_file, image_root=image_root, evaluator_type="lvis", **(metadata or {})
    )


def get_category_stats(dataset_name: str) -> CategoryStats:
    """Category statistics of a registered training set: from its metadata when loaded, from
    detectron2's shipped counts for LVIS v1 train, else computed from (or cached next to) its
    json."""
    meta = MetadataCatalog.get(dataset_name)
    if hasattr(meta, "category_stats"):
        return meta.category_stats
    if dataset_name.startswith("lvis_v1_train") and hasattr(meta, "class_image_count"):
        stats = lvis_v1_train_stats()
    elif hasattr(meta, "json_file"):
        local = PathManager.get_local_path(meta.json_file)
        if not os.path.isfile(local):
            raise DatasetFormatError(f"{meta.json_file}: file not found (dataset '{dataset_name}')")
        stats = load_or_compute_stats(local, None, os.environ.get("EQL_CACHE_DIR"))
    else:
        raise DatasetFormatError(
            f"dataset '{dataset_name}' has no json_file nor category_stats metadata (not an "
            "LVIS-format dataset, or not registered)"
        )
    meta.category_stats = stats
    return stats


def lvis_v1_categories() -> List[Dict]:
    """LVIS v1's categories (id, name, synonyms, frequency, ...) with their train
    ``image_count``, from detectron2's copies of the LVIS metadata."""
    from detectron2.data.datasets.lvis_v1_categories import LVIS_CATEGORIES
    from detectron2.data.datasets.lvis_v1_category_image_count import LVIS_CATEGORY_IMAGE_COUNT

    counts = {c["id"]: c["image_count"] for c in LVIS_CATEGORY_IMAGE_COUNT}
    return [{**c, "image_count": counts[c["id"]]} for c in LVIS_CATEGORIES]


def lvis_v1_train_stats() -> CategoryStats:
    """LVIS v1 train statistics from the image counts shipped with detectron2."""
    cats = sorted(lvis_v1_categories(), key=lambda c: c["id"])
    return stats_from_image_counts(
        cats,
        LVIS_V1_TRAIN_ANNOTATED_IMAGES,
        "detectron2 lvis_v1_category_image_count",
        [c["frequency"] for c in cats],
    )


def reregister_builtin_lvis() -> None:
    """Makes detectron2's builtin LVIS splits (lvis_v0.5_*, lvis_v1_*) load through
    :func:`load_lvis_format_json`, so that their records carry the image-level label sets."""
    from detectron2.data.datasets.builtin import _PREDEFINED_SPLITS_LVIS

    root = os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))
    for splits in _PREDEFINED_SPLITS_LVIS.values():
        for name, (image_root, json_file) in splits.items():
            if "cocofied" in name or name not in DatasetCatalog.list():
                continue
            json_path = os.path.join(root, json_file) if "://" not in json_file else json_file
            image_dir = os.path.join(root, image_root)
            DatasetCatalog.remove(name)
            DatasetCatalog.register(
                name, lambda j=json_path, i=image_dir, n=name: load_lvis_format_json(j, i, n)
            )


def forget_dataset(name: str) -> None:
    """Removes a dataset and its metadata from detectron2's catalogs (to register it again)."""
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def register_synthetic_lvis(root: str, prefix: str = "synthetic_lvis") -> List[str]:
    """Registers ``<prefix>_train`` and ``<prefix>_val`` for a set written by
    ``datasets/prepare_synthetic_lvis.py`` into ``root``. Returns the names."""
    names = []
    for split in ("train", "val"):
        name = f"{prefix}_{split}"
        forget_dataset(name)
        register_lvis_format_dataset(
            name,
            os.path.join(root, "annotations", f"lvis_synthetic_{split}.json"),
            os.path.join(root, split),
        )
        names.append(name)
    return names
