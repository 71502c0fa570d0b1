#!/usr/bin/env python
"""What the start-up check of image files costs (eql/data/image_files.py), against what a
training start already pays for the same set: loading its json into detectron2 dicts.

    python benchmarks/image_check.py                     # LVIS v1 train's 100,170 images
    python benchmarks/image_check.py --num-images 10000

A generated json of LVIS v1 train's size and shape (eql.benchmark.lvis_sized) and a real JPEG
file for every image, of the json's size (one encoded picture per size, written under each image's
name: ~10 KB each, smaller than LVIS's ~160 KB; the check reads headers and the last 4 KB, so
the size changes little but the page cache: the files are read warm, as after a first epoch).
Each contender in its own process:

    loader             eql's DatasetCatalog.get of the registered json (a training start's cost)
    check (first)      the image list parsed from the json and cached (a manifest), every image
    check (cached)     the same with the manifest cached (every later run)
    check (sample)     a fixed sample of --sample images (DATASETS.CHECK_IMAGES N)

Printed: seconds, and each check's time / the loader's.
"""

import argparse
import json
import os
import time

from eql.benchmark.processes import run_json_child


def contender(name: str, json_file: str, image_root: str, sample: int) -> dict:
    t = time.perf_counter()
    if name == "loader":
        from detectron2.data import DatasetCatalog

        from eql.data import register_lvis_format_dataset

        register_lvis_format_dataset("sized_train", json_file, image_root)
        checked = len(DatasetCatalog.get("sized_train"))
    else:
        from eql.data.image_files import check_image_files, load_manifest

        manifest = load_manifest(json_file, None, None)
        checked = check_image_files(json_file, image_root, manifest.images, sample)
    return {"seconds": time.perf_counter() - t, "images": checked}


def _in_subprocess(name, json_file, image_root, sample) -> dict:
    args = ["--contender", name, json_file, image_root]
    return run_json_child(os.path.abspath(__file__), args + [str(sample)], name)


def _make_image_files(json_file: str, image_root: str) -> int:
    """A JPEG of the json's size for every image; returns the total bytes."""
    import io

    import numpy as np
    from PIL import Image

    from eql.data.lvis_format import image_path

    marker = os.path.join(image_root, ".complete")
    with open(json_file) as f:
        images = json.load(f)["images"]
    encoded = {}
    total = 0
    for img in images:
        size = (img["width"], img["height"])
        if size not in encoded:
            y, x = np.mgrid[0 : size[1], 0 : size[0]]
            pixels = np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, "JPEG", quality=75)
            encoded[size] = buffer.getvalue()
        total += len(encoded[size])
        if os.path.exists(marker):
            continue
        path = image_path(image_root, img)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(encoded[size])
    open(marker, "w").close()
    return total


def argument_parser():
    from eql.utils.arguments import count

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--num-images", type=count, default=None, help="default: LVIS v1 train's")
    p.add_argument("--sample", type=count, default=1000, help="the sampled check's images")
    p.add_argument("--workdir", default="output/benchmarks/image_check")
    p.add_argument("--contender", nargs=4, help=argparse.SUPPRESS)
    return p


def main(argv=None):
    a = argument_parser().parse_args(argv)
    if a.contender:
        name, json_file, image_root, sample = a.contender
        print(json.dumps(contender(name, json_file, image_root, int(sample))))
        return 0
    from eql.benchmark.processes import lvis_sized_train_json
    from eql.data.category_stats import cache_paths
    from eql.data.image_files import MANIFEST_SUFFIX

    t = time.perf_counter()
    json_file, image_root, num_images, num_annotations = lvis_sized_train_json(
        a.workdir, a.num_images
    )
    total = _make_image_files(json_file, image_root)
    print(
        f"{json_file}: {num_images:,} images ({total / 2**20:.0f} MiB of JPEG), "
        f"{num_annotations:,} annotations, {os.path.getsize(json_file) / 2**30:.2f} GiB "
        f"(ready in {time.perf_counter() - t:.0f} s)",
        flush=True,
    )
    for path in cache_paths(json_file, None, MANIFEST_SUFFIX):
        if os.path.exists(path):
            os.remove(path)
    res = {
        "loader": _in_subprocess("loader", json_file, image_root, -1),
        "check (first)": _in_subprocess("check", json_file, image_root, -1),
        "check (cached)": _in_subprocess("check", json_file, image_root, -1),
        f"check (sample {a.sample})": _in_subprocess("check", json_file, image_root, a.sample),
    }
    base = res["loader"]["seconds"]
    for name, r in res.items():
        print(
            f"  {name:<20} {r['seconds']:7.1f} s ({r['seconds'] / base:.2f}x the loader)  "
            f"{r['images']:,} images"
        )
    return res


if __name__ == "__main__":
    main()
