"""Checking a dataset's image files before a run starts: each exists, is an image, has the size
its json gives (after EXIF rotation, as detectron2 reads it), and is complete.

Only headers and the file's last bytes are read: a JPEG must end with its end-of-image marker,
a PNG with its IEND chunk (trailing zero padding allowed). A file that fails that test, or of
another format, is decoded in full to decide (so a valid file with a trailer, e.g. a motion photo,
passes). The image list of a json (id, file, width, height) is kept in a manifest cached by the
json's sha256 (next to the category statistics), so that a large training json whose statistics
are cached is not parsed again.
"""

import logging
import os
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple

from ..io_utils import read_json, write_json_atomic
from .category_stats import cache_paths, file_sha256
from .lvis_json import DatasetFormatError, read_lvis_json

logger = logging.getLogger(__name__)

MANIFEST_SUFFIX = ".images.json"
PNG_END = b"IEND\xaeB`\x82"
JPEG_END = b"\xff\xd9"
EXIF_TRANSPOSED = (5, 6, 7, 8)  # orientations that swap width and height
THREADS = 8

Images = List[Tuple[int, str, int, int]]  # (image id, file as the json names it, width, height)


@dataclass
class Manifest:
    """What a run needs of a json beyond its statistics, without parsing it again: its images,
    and the index of its first annotation whose segmentation is an RLE (-1: none)."""

    images: Images
    first_rle: int = -1


def manifest_of(data: Dict) -> Manifest:
    """The manifest of a parsed LVIS-format json: ``file`` is ``<split>/<name>`` of a
    ``coco_url``, else ``file_name`` (``lvis_format.image_path``'s rule)."""
    images = []
    for img in data["images"]:
        if "coco_url" in img:
            file = "/".join(img["coco_url"].split("/")[-2:])
        else:
            file = img["file_name"]
        images.append((img["id"], file, img["width"], img["height"]))
    anns = data.get("annotations", [])
    first_rle = next((k for k, a in enumerate(anns) if isinstance(a.get("segmentation"), dict)), -1)
    return Manifest(images, first_rle)


def load_manifest(json_file: str, sha256: Optional[str], cache_dir: Optional[str]) -> Manifest:
    """The json's manifest, from its cache when that was made from the same content, else
    parsed (and validated) and cached."""
    sha256 = sha256 or file_sha256(json_file)
    for path in cache_paths(json_file, cache_dir, MANIFEST_SUFFIX):
        if os.path.isfile(path):
            try:
                cached = read_json(path, ValueError, path)
                if cached.get("source_sha256") == sha256:
                    images = [tuple(row) for row in cached["images"]]
                    return Manifest(images, int(cached["first_rle"]))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
    manifest = manifest_of(read_lvis_json(json_file))
    for path in cache_paths(json_file, cache_dir, MANIFEST_SUFFIX):
        try:  # next to the json, else in the cache folder (as the category statistics)
            write_json_atomic(path, {"source_sha256": sha256, **asdict(manifest)})
            break
        except OSError:
            continue
    return manifest


def _ends_complete(path: str, fmt: str) -> bool:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 4096))
        tail = f.read().rstrip(b"\x00")
    return tail.endswith(JPEG_END if fmt == "JPEG" else PNG_END)


def image_problem(path: str, width: int, height: int) -> Optional[str]:
    """None when ``path`` is a complete image of ``width`` x ``height`` (after EXIF rotation),
    else what is wrong with it."""
    from PIL import Image, UnidentifiedImageError

    if not os.path.isfile(path):
        return "not found"
    try:
        with Image.open(path) as im:
            w, h = im.size
            fmt = im.format
            if fmt == "JPEG" and im.getexif().get(0x0112) in EXIF_TRANSPOSED:
                w, h = h, w
            if fmt not in ("JPEG", "PNG") or not _ends_complete(path, fmt):
                im.load()  # decode in full to decide: raises on a truncated file
    except UnidentifiedImageError:
        return "is not an image PIL can read"
    except (OSError, SyntaxError, ValueError) as e:
        return f"is truncated or corrupt ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
    if (w, h) != (width, height):
        return f"is {w} x {h} pixels, the json says {width} x {height} (fields 'width', 'height')"
    return None


def check_image_files(
    json_file: str,
    image_root: str,
    images: Images,
    sample: int = -1,
    where: str = "",
) -> int:
    """Raises DatasetFormatError naming the json, the image (index in ``images``, id), the file
    and the problem, for the first bad image of ``images`` (every image when ``sample`` is -1,
    else a fixed sample of that many). Returns the number of images checked."""
    from .lvis_format import image_path

    indices = list(range(len(images)))
    if 0 <= sample < len(indices):
        indices = sorted(random.Random(0).sample(indices, sample))
    if not indices:
        return 0

    def check(k):
        img_id, file, w, h = images[k]
        path = image_path(image_root, {"file_name": file})
        return k, path, image_problem(path, w, h)

    pool = ThreadPoolExecutor(max_workers=min(THREADS, len(indices)))
    try:
        for k, path, problem in pool.map(check, indices):
            if problem is not None:
                raise DatasetFormatError(
                    f"{json_file}: images[{k}] (id {images[k][0]}): image file {path} "
                    f"{problem}{where}"
                )
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # the first problem stops the rest
    return len(indices)
