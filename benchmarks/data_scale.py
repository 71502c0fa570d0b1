#!/usr/bin/env python
"""Loading an LVIS v1-sized training json: eql's registration against detectron2's loader.

    python benchmarks/data_scale.py                      # 100,170 images, 1,270,141 annotations
    python benchmarks/data_scale.py --num-images 10000   # a tenth, annotations scaled

A generated json of LVIS v1 train's size and shape (``eql.benchmark.lvis_sized``: 1,203 classes,
federated label sets, polygons; ~1.2 GB) is loaded, each contender in its own process:

    detectron2     detectron2.data.datasets.load_lvis_json (the dataset dicts)
    eql (first)    the dataset registered with eql (register_lvis_format_dataset), then
                   DatasetCatalog.get (validated dicts with image label sets, image files checked)
                   and the category statistics, computed and cached (no cache before)
    eql (cached)   the same in a new process, with the statistics cache of the first run

Empty image files are created so that eql's image-file check runs as on a real disk. Printed: time
and peak memory (RSS) of each, and eql / detectron2 (goal: <= 1.2 for both).
"""

import argparse
import json
import os
import time

from eql.benchmark.processes import proc_status_mb, run_json_child

GOAL = 1.2


def contender(name: str, json_file: str, image_root: str) -> dict:
    """Loads in this process; returns seconds, peak RSS and what was loaded."""
    if name == "detectron2":
        from detectron2.data.datasets.lvis import load_lvis_json

        t = time.perf_counter()
        dicts = load_lvis_json(json_file, image_root)
        seconds = time.perf_counter() - t
        labels = None
    else:
        from detectron2.data import DatasetCatalog

        from eql.data import register_lvis_format_dataset
        from eql.data.lvis_format import get_category_stats

        t = time.perf_counter()
        register_lvis_format_dataset("lvis_sized_train", json_file, image_root)
        dicts = DatasetCatalog.get("lvis_sized_train")
        stats = get_category_stats("lvis_sized_train")
        seconds = time.perf_counter() - t
        labels = sum(len(d["image_labels"]["negative"]) for d in dicts)
        assert stats.num_classes == 1203
    return {
        "seconds": seconds,
        "peak_mb": proc_status_mb(),
        "images": len(dicts),
        "annotations": sum(len(d["annotations"]) for d in dicts),
        "negative_labels": labels,
    }


def _in_subprocess(name: str, json_file: str, image_root: str) -> dict:
    args = ["--contender", name, json_file, image_root]
    return run_json_child(os.path.abspath(__file__), args, name)


def _make_image_files(json_file: str, image_root: str) -> None:
    """An empty file for each image (what eql's loader checks for)."""
    from eql.data.lvis_format import image_path

    marker = os.path.join(image_root, ".complete")
    if os.path.exists(marker):
        return
    with open(json_file) as f:
        images = json.load(f)["images"]
    for img in images:
        path = image_path(image_root, img)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "w").close()
    open(marker, "w").close()


def argument_parser():
    from eql.utils.arguments import count

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--num-images", type=count, default=None, help="default: LVIS v1 train's")
    p.add_argument("--workdir", default="output/benchmarks/data_scale")
    p.add_argument("--contender", nargs=3, help=argparse.SUPPRESS)
    return p


def main(argv=None):
    a = argument_parser().parse_args(argv)
    if a.contender:
        print(json.dumps(contender(*a.contender)))
        return 0
    from eql.benchmark.processes import lvis_sized_train_json
    from eql.data.category_stats import STATS_CACHE_SUFFIX

    t = time.perf_counter()
    json_file, image_root, num_images, num_annotations = lvis_sized_train_json(
        a.workdir, a.num_images
    )
    _make_image_files(json_file, image_root)
    print(
        f"{json_file}: {num_images:,} images, {num_annotations:,} annotations, 1,203 classes, "
        f"{os.path.getsize(json_file) / 2**30:.2f} GiB (ready in {time.perf_counter() - t:.0f} s)"
    )
    cache = json_file + STATS_CACHE_SUFFIX
    if os.path.exists(cache):
        os.remove(cache)
    res = {
        "detectron2": _in_subprocess("detectron2", json_file, image_root),
        "eql (first)": _in_subprocess("eql", json_file, image_root),
        "eql (cached)": _in_subprocess("eql", json_file, image_root),
    }
    base = res["detectron2"]
    for name, r in res.items():
        assert (r["images"], r["annotations"]) == (base["images"], base["annotations"]), name
        print(
            f"  {name:<13} {r['seconds']:7.1f} s ({r['seconds'] / base['seconds']:.2f}x)  "
            f"peak RSS {r['peak_mb'] / 1024:6.2f} GiB ({r['peak_mb'] / base['peak_mb']:.2f}x)"
            + (f"  {r['negative_labels']:,} negative labels" if r["negative_labels"] else "")
        )
    print(f"  goal: eql <= {GOAL}x detectron2's time and memory")
    return res


if __name__ == "__main__":
    main()
