#!/usr/bin/env python
"""LVIS evaluation time: eql's default engine (faster-coco-eval, LVIS mode) against lvis-api, on
a generated LVIS-format set, bbox and segm, in one run.

    python benchmarks/eval_speed.py                       # 2,000 images x 300 detections
    python benchmarks/eval_speed.py --num-images 500 --dets-per-image 100

Both engines get the same in-memory detections (capped at 300 per image, as LVIS) and must give
the same metrics; the script checks that, then prints each time and the ratio lvis-api / eql
(targets: >= 5 for bbox, >= 3 for segm).

    python benchmarks/eval_speed.py --end-to-end          # what a user waits for: see below
    python benchmarks/eval_speed.py --end-to-end --num-images 19809 --tasks bbox --gather

--end-to-end runs benchmarks/eval_end_to_end.py (its options follow): eql's LVISEvaluator from
construction to metrics with the results file and reports written, against lvis-api on that file
and detectron2's LVISEvaluator, each in its own process, on an LVIS v1-sized val json.
"""

import argparse
import json
import os
import sys
import tempfile
import time

TARGETS = {"bbox": 5.0, "segm": 3.0}


def argument_parser():
    from eql.utils.arguments import count

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--num-images", type=count, default=2000)
    p.add_argument("--num-classes", type=count, default=192)
    p.add_argument("--dets-per-image", type=count, default=300)
    p.add_argument("--image-size", type=count, default=256)
    p.add_argument("--tasks", nargs="+", default=["bbox", "segm"])
    p.add_argument("--workdir", default=None, help="where the generated json goes (default: tmp)")
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--end-to-end" in argv:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from eval_end_to_end import main as end_to_end

        return end_to_end([x for x in argv if x != "--end-to-end"])
    a = argument_parser().parse_args(argv)
    if a.workdir:
        from eql.utils.paths import check_writable

        check_writable(a.workdir, "--workdir", folder=True)

    from eql.benchmark.synthetic_detections import generate_detections
    from eql.data import generate_synthetic_lvis
    from eql.evaluation.lvis_engines import evaluate_lvis

    workdir = a.workdir or tempfile.mkdtemp(prefix="eql_eval_speed_")
    t0 = time.perf_counter()
    paths = generate_synthetic_lvis(
        workdir,
        10,
        a.num_images,
        a.num_classes,
        a.image_size,
        seed=0,
        progress=False,
        write_images=False,
    )
    with open(paths["val"]) as f:
        gt = json.load(f)
    print(
        f"ground truth: {len(gt['images'])} images, {len(gt['annotations'])} objects, "
        f"{a.num_classes} classes ({paths['val']}; {time.perf_counter() - t0:.0f} s)"
    )
    ratios = {}
    for task in a.tasks:
        dets = generate_detections(gt, a.dets_per_image, seed=1, with_masks=task == "segm")
        times, metrics = {}, {}
        for engine in ("lvis_api", "faster_coco_eval"):
            t = time.perf_counter()
            metrics[engine] = evaluate_lvis(paths["val"], dets, task, engine).summary
            times[engine] = time.perf_counter() - t
        worst = max(
            abs(metrics["lvis_api"][k] - metrics["faster_coco_eval"][k])
            for k in metrics["lvis_api"]
        )
        ratios[task] = times["lvis_api"] / times["faster_coco_eval"]
        print(
            f"{task}: {len(dets)} detections | lvis-api {times['lvis_api']:.2f} s | eql "
            f"(faster-coco-eval) {times['faster_coco_eval']:.2f} s | ratio {ratios[task]:.2f} "
            f"(target >= {TARGETS.get(task, 1):.0f}) | max metric difference {worst:.1e}"
        )
        assert worst <= 1e-6, "engines disagree"
    if not a.workdir:
        for name in os.listdir(os.path.join(workdir, "annotations")):
            os.remove(os.path.join(workdir, "annotations", name))
    return ratios


if __name__ == "__main__":
    main()
