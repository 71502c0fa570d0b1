"""Per-class statistics of a long-tailed training set.

EQL needs, for every class j, the fraction f_j of training images that contain it. LVIS defines
f_j = image_count_j / (number of images with at least one annotation); its frequency bins are
rare (1-10 training images), common (11-100) and frequent (>100).
"""

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence

from ..utils.io import read_json, write_json_atomic
from .lvis_json import DatasetFormatError, read_lvis_json

logger = logging.getLogger(__name__)

# LVIS's bin edges, in training images: rare <= 10 < common <= 100 < frequent.
LVIS_RARE_MAX_IMAGES = 10
LVIS_COMMON_MAX_IMAGES = 100

STATS_CACHE_SUFFIX = ".category_stats.json"
_STATS_FORMAT_VERSION = 2


@dataclass
class CategoryStats:
    """Statistics of the categories of one training set, in contiguous class order.

    Attributes:
        category_ids: dataset (json) category id of each contiguous class, length C.
        image_count: number of training images that contain class j, length C.
        num_images_with_annotations: number of training images with at least one annotation.
        frequency: "r", "c" or "f" for each class, length C.
    """

    category_ids: List[int]
    image_count: List[int]
    num_images_with_annotations: int
    frequency: List[str]
    source: str = ""
    source_sha256: str = ""  # of the json the statistics were computed from
    version: int = field(default=_STATS_FORMAT_VERSION)

    @property
    def num_classes(self) -> int:
        return len(self.image_count)

    def image_frequency(self) -> List[float]:
        """f_j = image_count_j / num_images_with_annotations, length C."""
        if self.num_images_with_annotations <= 0:
            raise ValueError(f"{self.source or 'category stats'}: no annotated image")
        return [n / self.num_images_with_annotations for n in self.image_count]

    def tail_classes(self, frequency_threshold: float) -> List[int]:
        """Contiguous ids of classes with f_j < frequency_threshold (strict, as T_lambda)."""
        return [j for j, f in enumerate(self.image_frequency()) if f < frequency_threshold]

    def to_json(self, path: str) -> None:
        write_json_atomic(path, asdict(self))

    @classmethod
    def from_json(cls, path: str) -> "CategoryStats":
        with open(path) as f:
            data = json.load(f)
        if data.get("version") != _STATS_FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported category stats version {data.get('version')}")
        return cls(**data)


def frequency_bin(
    image_count: int, rare_max: int = LVIS_RARE_MAX_IMAGES, common_max: int = LVIS_COMMON_MAX_IMAGES
) -> str:
    """LVIS frequency bin of a class seen in ``image_count`` training images."""
    if image_count <= rare_max:
        return "r"
    if image_count <= common_max:
        return "c"
    return "f"


def compute_category_stats(dataset: Dict, source: str = "") -> CategoryStats:
    """Category statistics from a parsed LVIS-format json (``images``, ``annotations``,
    ``categories``). Classes are ordered by ascending category id (the contiguous order).

    The bin of a class is the json's ``frequency`` field when every category has one (LVIS's own
    bins), else it follows LVIS's definition from the counted images.
    """
    categories = sorted(dataset["categories"], key=lambda c: c["id"])
    category_ids = [c["id"] for c in categories]
    index = {cid: j for j, cid in enumerate(category_ids)}
    images_per_class: List[set] = [set() for _ in category_ids]
    annotated_images = set()
    for ann in dataset.get("annotations", []):
        images_per_class[index[ann["category_id"]]].add(ann["image_id"])
        annotated_images.add(ann["image_id"])
    image_count = [len(s) for s in images_per_class]
    if all("frequency" in c for c in categories):
        frequency = [c["frequency"] for c in categories]
    else:
        frequency = [frequency_bin(n) for n in image_count]
    return CategoryStats(category_ids, image_count, len(annotated_images), frequency, source)


def stats_from_image_counts(
    category_image_count: Sequence[Dict],
    num_images_with_annotations: int,
    source: str = "",
    frequency: Optional[Sequence[str]] = None,
) -> CategoryStats:
    """Category statistics from a list of ``{"id": ..., "image_count": ...}`` (the form detectron2
    ships for LVIS v1) and the number of annotated training images."""
    entries = sorted(category_image_count, key=lambda c: c["id"])
    counts = [int(c["image_count"]) for c in entries]
    bins = list(frequency) if frequency is not None else [frequency_bin(n) for n in counts]
    return CategoryStats(
        [c["id"] for c in entries], counts, num_images_with_annotations, bins, source
    )


def tail_ratio(image_count: Sequence[int], num_images: int, frequency_threshold: float) -> float:
    """Tail Ratio of the EQL paper: TR(lambda) = sum_j T(f_j) N_j / sum_j N_j, with N_j the image
    count of class j and T(f) = 1 if f < lambda."""
    total = sum(image_count)
    if total == 0:
        return 0.0
    tail = sum(n for n in image_count if n / num_images < frequency_threshold)
    return tail / total


def file_sha256(path: str) -> str:
    """sha256 of a file's content (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_paths(
    json_file: str, cache_dir: Optional[str], suffix: str = STATS_CACHE_SUFFIX
) -> List[str]:
    """Where a cache of ``json_file`` lives: next to it, else (a read-only folder) in
    ``cache_dir``."""
    paths = [json_file + suffix]
    if cache_dir:
        paths.append(os.path.join(cache_dir, os.path.basename(json_file) + suffix))
    return paths


def cached_stats(
    json_file: str, cache_dir: Optional[str] = None, digest: Optional[str] = None
) -> Optional[CategoryStats]:
    """The cached statistics of ``json_file`` computed from its current content (sha256), or
    None. A cache of the same content also says the json passed validation."""
    digest = digest or file_sha256(json_file)
    for path in cache_paths(json_file, cache_dir):
        if os.path.isfile(path):
            try:
                cached = CategoryStats.from_json(path)
            except (ValueError, TypeError, KeyError) as e:
                logger.warning(f"Ignoring unreadable category stats cache {path}: {e}")
                continue
            if cached.source_sha256 == digest:
                return cached
            logger.info(f"Ignoring category stats cache {path}: computed from other content")
    return None


def load_or_compute_stats(
    json_file: str, dataset: Optional[Dict] = None, cache_dir: Optional[str] = None
) -> CategoryStats:
    """Category stats of an LVIS-format json, cached in ``<json>.category_stats.json`` (or in
    ``cache_dir`` when the json's folder is read-only). The cache is used only when it was computed
    from the same content (sha256 of the json), whatever the files' times."""

    digest = file_sha256(json_file)
    cached = cached_stats(json_file, cache_dir, digest)
    if cached is not None:
        return cached
    if dataset is None:
        dataset = read_lvis_json(json_file, require_annotations=True)
    stats = compute_category_stats(dataset, source=json_file)
    stats.source_sha256 = digest
    for path in cache_paths(json_file, cache_dir):
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            stats.to_json(path)
            logger.info(f"Cached category stats of {json_file} in {path}")
            break
        except OSError:
            continue
    return stats


def load_stats_file(path: str) -> CategoryStats:
    """Category statistics from a json file: an LVIS-format json (with ``images``) or a counts
    file with ``categories`` ([{"id", "image_count", optional "frequency"}]) and
    ``num_images_with_annotations``. Bad files raise a UserError naming the file and field."""

    path = os.path.expanduser(path)
    data = read_json(path, DatasetFormatError)
    if isinstance(data, dict) and "images" in data:
        return load_or_compute_stats(path, None, os.environ.get("EQL_CACHE_DIR"))
    if not isinstance(data, dict):
        raise DatasetFormatError(f"{path}: top level must be an object (a category-count file)")
    for key in ("categories", "num_images_with_annotations"):
        if key not in data:
            raise DatasetFormatError(
                f"{path}: missing field '{key}' (expected a category-count file)"
            )
    cats = data["categories"]
    if not isinstance(cats, list) or not cats:
        raise DatasetFormatError(f"{path}: field 'categories' must be a non-empty list")
    for k, c in enumerate(cats):
        for key in ("id", "image_count"):
            if not isinstance(c, dict) or key not in c:
                raise DatasetFormatError(f"{path}: categories[{k}] has no field '{key}'")
        n = c["image_count"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise DatasetFormatError(
                f"{path}: categories[{k}] field 'image_count' must be an integer >= 0, got {n!r}"
            )
    if len({c["id"] for c in cats}) != len(cats):
        raise DatasetFormatError(f"{path}: field 'categories' has duplicate ids")
    total = data["num_images_with_annotations"]
    if not isinstance(total, int) or isinstance(total, bool) or total <= 0:
        raise DatasetFormatError(
            f"{path}: field 'num_images_with_annotations' must be an integer > 0, got {total!r}"
        )
    has_bins = all("frequency" in c for c in cats)
    freq = [c["frequency"] for c in sorted(cats, key=lambda c: c["id"])] if has_bins else None
    return stats_from_image_counts(cats, total, path, freq)
