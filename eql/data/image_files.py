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
import multiprocessing
import os
import random
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple

from ..utils.io import read_json, write_json_atomic
from .category_stats import cache_paths, file_sha256
from .lvis_format import image_path
from .lvis_json import DatasetFormatError, read_lvis_json

logger = logging.getLogger(__name__)

MANIFEST_SUFFIX = ".images.json"
PNG_END = b"IEND\xaeB`\x82"
JPEG_END = b"\xff\xd9"
EXIF_TRANSPOSED = (5, 6, 7, 8)  # orientations that swap width and height
CHUNK = 2000  # images a process checks at a time

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
    return cache_manifest(json_file, sha256, cache_dir, read_lvis_json(json_file))


def _ends_complete(f, fmt: str) -> bool:
    f.seek(0, os.SEEK_END)
    f.seek(max(0, f.tell() - 4096))
    tail = f.read().rstrip(b"\x00")
    return tail.endswith(JPEG_END if fmt == "JPEG" else PNG_END)


def image_problem(path: str, width: int, height: int) -> Optional[str]:
    """None when ``path`` is a complete image of ``width`` x ``height`` (after EXIF rotation),
    else what is wrong with it. One open: the header, then the last 4 KiB."""
    from PIL import Image, UnidentifiedImageError

    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return "not found"
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    try:
        with f, Image.open(f) as im:
            w, h = im.size
            fmt = im.format
            if fmt == "JPEG" and im.getexif().get(0x0112) in EXIF_TRANSPOSED:
                w, h = h, w
            if fmt not in ("JPEG", "PNG") or not _ends_complete(f, fmt):
                f.seek(0)
                with Image.open(f) as full:
                    full.load()  # decode in full to decide: raises on a truncated file
    except UnidentifiedImageError:
        return "is not an image PIL can read"
    except (OSError, SyntaxError, ValueError) as e:
        return f"is truncated or corrupt ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
    if (w, h) != (width, height):
        return f"is {w} x {h} pixels, the json says {width} x {height} (fields 'width', 'height')"
    return None


def cache_manifest(
    json_file: str, sha256: Optional[str], cache_dir: Optional[str], data: Dict
) -> Manifest:
    """The manifest of an already parsed json, cached (so that a run that computed the json's
    statistics does not parse it again for its images)."""
    sha256 = sha256 or file_sha256(json_file)
    manifest = manifest_of(data)
    for path in cache_paths(json_file, cache_dir, MANIFEST_SUFFIX):
        try:  # next to the json, else in the cache folder (as the category statistics)
            write_json_atomic(path, {"source_sha256": sha256, **asdict(manifest)})
            break
        except OSError:
            continue
    return manifest


def _first_problem(rows: List[Tuple[int, str, int, int]]):
    """(k, path, problem) of the first bad image of ``rows`` ((k, path, width, height)), or
    None."""
    for k, path, w, h in rows:
        problem = image_problem(path, w, h)
        if problem is not None:
            return k, path, problem
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
    else a fixed sample of that many). Returns the number of images checked.

    Reading headers is Python work (PIL's parsers): threads contend for the GIL, so many images
    are checked in chunks by forked processes, one per core (each reads its own files, which
    also hides a network file system's latency)."""

    indices = list(range(len(images)))
    if 0 <= sample < len(indices):
        indices = sorted(random.Random(0).sample(indices, sample))
    rows = [
        (k, image_path(image_root, {"file_name": images[k][1]}), *images[k][2:]) for k in indices
    ]
    workers = min(os.cpu_count() or 1, len(rows) // CHUNK)
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        found = [_first_problem(rows)]
    else:
        chunks = [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            found = list(pool.map(_first_problem, chunks))
    problem = next((f for f in found if f is not None), None)
    if problem is not None:
        k, path, what = problem
        raise DatasetFormatError(
            f"{json_file}: images[{k}] (id {images[k][0]}): image file {path} {what}{where}"
        )
    return len(rows)
