#!/usr/bin/env python
"""LVIS evaluation as a user waits for it, end to end: from the evaluator's construction through
every ``process()`` to the returned metrics, with the results file and the reports written.
Run through ``python benchmarks/eval_speed.py --end-to-end``.

On a generated LVIS v1-sized val json (1,203 classes, ``eql.benchmark.lvis_sized``; 19,809 images at
full size) with 300 detections per image (``SyntheticPredictions``), each contender runs in its
own process (so that its peak memory is its own):

    eql          eql's LVISEvaluator (columns, faster-coco-eval, forked writer)
    lvis_api     lvis-api evaluating the results file eql wrote (LVIS + LVISResults + LVISEval)
    detectron2   detectron2's LVISEvaluator (what detectron2 users run today; lvis-api inside)

Building the predicted Instances (and their masks) is not timed; ``process()`` is. Ratios are
contender time / eql time (targets: lvis-api >= 5 for bbox, >= 3 for segm). eql and lvis-api
evaluate the same file and must agree to 1e-6; detectron2 writes unrounded boxes, so its metrics
may differ in the 4th decimal.

``--gather`` times rank 0's gathering of the detections from 2 gloo processes, as eql's columns
and as detectron2's per-detection dicts.
"""

import argparse
import gc
import json
import os
import resource
import time

from eql.benchmark.processes import proc_status_mb, run_json_child

METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf")
TARGETS = {"bbox": 5.0, "segm": 3.0}
DATASET = "eql_benchmark_lvis_val"


def _children_peak_mb() -> float:
    """The largest peak RSS of a finished child (eql's forked writer; counts the pages it shares
    with this process, so an upper bound of what it adds)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _prepare(gt_path: str, dets_per_image: int):
    from detectron2.data import MetadataCatalog

    from eql.benchmark.synthetic_detections import SyntheticPredictions

    with open(gt_path) as f:
        gt = json.load(f)
    preds = SyntheticPredictions(gt, dets_per_image, seed=1)
    classes = [c["name"] for c in sorted(gt["categories"], key=lambda c: c["id"])]
    MetadataCatalog.get(DATASET).set(json_file=gt_path, thing_classes=classes)
    del gt
    gc.collect()
    return preds


def _run_evaluator(evaluator_factory, preds, with_masks: bool):
    """(metrics, seconds in process(), seconds in all): construction + process() of every image +
    evaluate()."""
    t = time.perf_counter()
    evaluator = evaluator_factory()
    evaluator.reset()
    setup = time.perf_counter() - t
    in_process = 0.0
    for i in range(len(preds)):
        inputs = [{"image_id": preds.image_ids[i]}]
        outputs = [{"instances": preds.instances(i, with_masks)}]  # not timed
        t = time.perf_counter()
        evaluator.process(inputs, outputs)
        in_process += time.perf_counter() - t
    t = time.perf_counter()
    metrics = evaluator.evaluate()
    return metrics, in_process, setup + in_process + time.perf_counter() - t


def contender(name: str, gt_path: str, task: str, out_dir: str, dets_per_image: int) -> dict:
    """Runs one contender in this process; returns time, memory and metrics (in %)."""
    from eql.evaluation.lvis_engines import numpy_float_alias

    if name == "gather":
        return gather_benchmark(gt_path, dets_per_image, out_dir)
    preds = None if name == "lvis_api" else _prepare(gt_path, dets_per_image)
    rss0 = proc_status_mb("VmRSS")
    if name == "eql":
        from eql.evaluation import LVISEvaluator

        def factory():
            return LVISEvaluator(DATASET, tasks=(task,), distributed=False, output_dir=out_dir)

        metrics, in_process, seconds = _run_evaluator(factory, preds, task == "segm")
        metrics = metrics[task]
    elif name == "detectron2":
        from detectron2.evaluation import LVISEvaluator as D2LVISEvaluator

        def factory():
            with numpy_float_alias():
                return D2LVISEvaluator(DATASET, (task,), False, out_dir, max_dets_per_image=300)

        with numpy_float_alias():
            metrics, in_process, seconds = _run_evaluator(factory, preds, task == "segm")
        metrics = metrics[task]
    elif name == "lvis_api":
        t = time.perf_counter()
        with numpy_float_alias():
            from lvis import LVIS, LVISEval, LVISResults

            gt = LVIS(gt_path)
            with open(os.path.join(out_dir, "lvis_instances_results.json")) as f:
                results = json.load(f)
            if task == "segm":  # mask areas and boxes from the masks, as detectron2 and eql
                for r in results:
                    r.pop("bbox", None)
            ev = LVISEval(gt, LVISResults(gt, results, max_dets=300), task)
            ev.run()
            metrics = {k: float(v) * 100 for k, v in ev.get_results().items()}
        seconds, in_process = time.perf_counter() - t, 0.0
    else:
        raise ValueError(name)
    return {
        "seconds": seconds,
        "process_seconds": in_process,
        "peak_mb": proc_status_mb(),
        "peak_increase_mb": proc_status_mb() - rss0,
        "writer_peak_mb": _children_peak_mb() if name == "eql" else 0.0,
        "metrics": {k: metrics[k] for k in METRICS},
        "detections": preds.num_detections if preds is not None else None,
    }


def _in_subprocess(name, gt_path, task, out_dir, dets_per_image) -> dict:
    args = ["--contender", name, "--gt", gt_path, "--task", task, "--out", out_dir]
    args += ["--dets-per-image", str(dets_per_image)]
    return run_json_child(os.path.abspath(__file__), args, name)


def _gather_rank(rank, world_size, init_file, gt_path, dets_per_image, out_file):
    import pickle

    import torch.distributed as dist
    from detectron2.evaluation.coco_evaluation import instances_to_coco_json
    from detectron2.utils import comm

    from eql.evaluation import Detections

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        preds = _prepare(gt_path, dets_per_image)
        to_id = list(range(1, 1204))
        mine = range(rank, len(preds), world_size)
        columns = Detections.concatenate(
            [Detections.from_instances(preds.instances(i), preds.image_ids[i], to_id) for i in mine]
        )
        dicts = [
            {
                "image_id": preds.image_ids[i],
                "instances": instances_to_coco_json(preds.instances(i), preds.image_ids[i]),
            }
            for i in mine
        ]
        times, total = {}, 0
        for label, obj in (("columns", columns), ("dicts", dicts)):
            comm.synchronize()
            t = time.perf_counter()
            parts = comm.gather(obj, dst=0)
            times[label] = time.perf_counter() - t
            comm.synchronize()  # the send is complete on every rank before the next step
            if label == "columns" and rank == 0:
                total = sum(len(p) for p in parts)
        if rank == 0:
            with open(out_file, "wb") as f:
                pickle.dump({"times": times, "detections": total}, f)
    finally:
        dist.destroy_process_group()


def gather_benchmark(gt_path: str, dets_per_image: int, workdir: str) -> dict:
    """2 gloo processes (spawned from this script's process: run it through --contender gather)."""
    import pickle

    import torch.multiprocessing as mp

    init_file, out_file = os.path.join(workdir, "gloo_init"), os.path.join(workdir, "gather.pkl")
    for path in (init_file, out_file):
        if os.path.exists(path):
            os.remove(path)
    mp.spawn(_gather_rank, args=(2, init_file, gt_path, dets_per_image, out_file), nprocs=2)
    with open(out_file, "rb") as f:
        return pickle.load(f)


def run(gt_path: str, tasks, contenders, dets_per_image: int, workdir: str) -> dict:
    """Runs the contenders per task; prints and returns {task: {contender: result}}."""
    out = {}
    for task in tasks:
        res = {}
        for name in contenders:
            out_dir = os.path.join(workdir, f"{task}_{'eql' if name == 'lvis_api' else name}")
            res[name] = _in_subprocess(name, gt_path, task, out_dir, dets_per_image)
        eql = res["eql"]
        print(f"{task}: {eql['detections']:,} detections")
        for name, r in res.items():
            diff = max(abs(r["metrics"][k] - eql["metrics"][k]) for k in METRICS)
            ratio = r["seconds"] / eql["seconds"]
            writer = f" + writer <= {r['writer_peak_mb']:.0f} MB" if r["writer_peak_mb"] else ""
            print(
                f"  {name:<10} {r['seconds']:8.2f} s (process() {r['process_seconds']:.2f} s)  "
                f"{ratio:5.2f}x eql's time  peak RSS "
                f"{r['peak_mb']:7.0f} MB (+{r['peak_increase_mb']:.0f} MB during the run{writer})"
                f"  max metric diff to eql {diff:.1e} (AP {r['metrics']['AP']:.3f})"
            )
        if "lvis_api" in res:
            ratio = res["lvis_api"]["seconds"] / eql["seconds"]
            after = eql["seconds"] - eql["process_seconds"]
            print(
                f"  lvis-api / eql: {ratio:.2f} end to end (target >= {TARGETS[task]:.0f}); "
                f"{res['lvis_api']['seconds'] / after:.2f} after process() (eql {after:.2f} s)"
            )
            worst = max(abs(res["lvis_api"]["metrics"][k] - eql["metrics"][k]) for k in METRICS)
            assert worst <= 1e-4, f"eql and lvis-api disagree on {task} ({worst:.1e} %)"
        out[task] = res
    return out


def argument_parser():
    from eql.utils.arguments import count

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--num-images", type=count, default=2000)
    p.add_argument("--dets-per-image", type=count, default=300)
    p.add_argument("--tasks", nargs="+", default=["bbox", "segm"])
    p.add_argument("--contenders", nargs="+", default=["eql", "lvis_api", "detectron2"])
    p.add_argument("--gather", action="store_true", help="also time the 2-process gathering")
    p.add_argument("--workdir", default="output/benchmarks/eval_end_to_end")
    p.add_argument("--contender", help=argparse.SUPPRESS)
    p.add_argument("--gt", help=argparse.SUPPRESS)
    p.add_argument("--task", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    return p


def main(argv=None):
    a = argument_parser().parse_args(argv)
    if a.contender:  # one contender, in its own process
        print(json.dumps(contender(a.contender, a.gt, a.task, a.out, a.dets_per_image)))
        return 0
    from eql.utils.paths import check_writable

    check_writable(a.workdir, "--workdir", folder=True)

    from eql.benchmark.lvis_sized import LVIS_V1_SIZES, write_lvis_sized_json

    images, annotations = LVIS_V1_SIZES["val"]
    num_annotations = round(annotations * a.num_images / images)
    os.makedirs(a.workdir, exist_ok=True)
    gt_path = os.path.join(a.workdir, f"lvis_v1_val_sized_{a.num_images}_{num_annotations}.json")
    t = time.perf_counter()
    write_lvis_sized_json(gt_path, a.num_images, num_annotations, "val", seed=0)
    print(
        f"ground truth: {a.num_images:,} images, {num_annotations:,} annotations, 1,203 classes "
        f"({gt_path}, {os.path.getsize(gt_path) / 2**20:.0f} MiB; {time.perf_counter() - t:.0f} s)"
    )
    results = run(gt_path, a.tasks, a.contenders, a.dets_per_image, a.workdir)
    if a.gather:
        g = _in_subprocess("gather", gt_path, "bbox", a.workdir, a.dets_per_image)
        t = g["times"]
        print(
            f"gather to rank 0 (2 gloo processes, {g['detections']:,} detections): eql's columns "
            f"{t['columns']:.2f} s, detectron2's dicts {t['dicts']:.2f} s"
        )
        results["gather"] = g
    return results


if __name__ == "__main__":
    main()
