#!/usr/bin/env python
"""Training-step and inference cost of LVIS v1 models (1,203 classes) with each loss.

    python benchmarks/train_step.py                 # a GPU: batch 16, 800-1333 px images
    python benchmarks/train_step.py --device cpu --batch 2 --min-size 320 --max-size 533 \\
        --iters 2 --warmup 1 --infer-images 2        # what fits a CPU

Models are built from the repo's LVIS v1 R-50-FPN configs with random weights (timing only; with
BatchNorm and no frozen stage, as random weights need):
Mask R-CNN with sigmoid CE, EQL, EQLv2 and Seesaw; RetinaNet with detectron2's own focal loss
(``RetinaNet``) and eql's EFL. Each training iteration is forward + backward + SGD step on a
synthetic batch (images of short side ``--min-size`` and long side up to ``--max-size``, ~13
objects each as LVIS v1 averages, polygon masks, image-level label sets), with and without AMP
(fp16 + GradScaler on CUDA, bf16 on the CPU). Printed per row: median iteration time, its ratio to
the baseline of the same family (sigmoid CE / detectron2's RetinaNet) and peak memory (CUDA: max
allocated; CPU: the process's peak RSS so far). Inference: median time per image with the LVIS
test settings of the configs (300 detections, ``--detections``; score threshold 1e-4),
post-processing and mask pasting included. Config options ``KEY VALUE ...`` at the end of the line
apply to every row (a quick CPU check: ``MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE 64``, as the mask
head over 128 foreground boxes of 1,203 classes takes most of a CPU iteration).
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

from eql.benchmark.processes import proc_status_mb, run_json_child

ROWS = (
    ("Mask R-CNN sigmoid CE", "LVISv1-InstanceSegmentation/sigmoid_mask_rcnn_R_50_FPN_1x.yaml", []),
    ("Mask R-CNN EQL", "LVISv1-InstanceSegmentation/eql_mask_rcnn_R_50_FPN_1x.yaml", []),
    ("Mask R-CNN EQLv2", "LVISv1-InstanceSegmentation/eqlv2_mask_rcnn_R_50_FPN_1x.yaml", []),
    ("Mask R-CNN Seesaw", "LVISv1-InstanceSegmentation/seesaw_mask_rcnn_R_50_FPN_1x.yaml", []),
    (
        "RetinaNet focal (detectron2)",
        "LVISv1-Detection/focal_rfs_retinanet_R_50_FPN_1x.yaml",
        ["MODEL.META_ARCHITECTURE", "RetinaNet"],
    ),
    ("RetinaNet EFL", "LVISv1-Detection/efl_rfs_retinanet_R_50_FPN_1x.yaml", []),
)
BASELINES = {"Mask R-CNN": "Mask R-CNN sigmoid CE", "RetinaNet": "RetinaNet focal (detectron2)"}


def family(name: str) -> str:
    return "RetinaNet" if name.startswith("RetinaNet") else "Mask R-CNN"


NUM_CLASSES = 1203


def synthetic_batch(rng, batch: int, min_size: int, max_size: int, device):
    """detectron2 training inputs: uint8 BGR images, Instances (boxes, classes, polygon masks),
    LVIS image-level label sets."""
    from detectron2.structures import Boxes, Instances, PolygonMasks

    out = []
    for _ in range(batch):
        short, long = min_size, int(rng.integers(min_size, max_size + 1))
        h, w = (short, long) if rng.random() < 0.5 else (long, short)
        n = int(rng.integers(5, 22))
        wh = rng.uniform(16, min(h, w) / 2, (n, 2))
        xy = rng.uniform(0, 1, (n, 2)) * ([w, h] - wh)
        boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
        inst = Instances((h, w))
        inst.gt_boxes = Boxes(torch.from_numpy(boxes))
        classes = rng.integers(0, NUM_CLASSES, n)
        inst.gt_classes = torch.from_numpy(classes)
        inst.gt_masks = PolygonMasks(
            [[np.array([b[0], b[1], b[2], b[1], b[2], b[3]])] for b in boxes]
        )
        negative = rng.choice(NUM_CLASSES, 5, replace=False)
        out.append(
            {
                "image": torch.from_numpy(rng.integers(0, 256, (3, h, w), dtype=np.uint8)),
                "height": h,
                "width": w,
                "instances": inst,
                "image_labels": {
                    "positive": sorted(set(classes.tolist())),
                    "negative": sorted(set(negative.tolist()) - set(classes.tolist())),
                    "not_exhaustive": [],
                },
            }
        )
    return out


def build(config: str, opts, device: str):
    from detectron2.modeling import build_model

    from eql.config import load_config
    from eql.model_zoo import config_path

    # random weights: BatchNorm everywhere (FrozenBN of no pretrained weights lets activations
    # grow to inf through 50 layers)
    opts = list(opts) + ["MODEL.RESNETS.NORM", "BN", "MODEL.BACKBONE.FREEZE_AT", "0"]
    cfg = load_config(config_path(config), opts + ["MODEL.DEVICE", device])
    model = build_model(cfg)
    return model, cfg


def _sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _peak_mb(device) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return proc_status_mb("VmHWM")


def train_step_time(model, batches, device: str, amp: bool, warmup: int):
    """(median seconds per iteration, peak memory MB) of forward + backward + SGD step."""
    from detectron2.utils.events import EventStorage

    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-5, momentum=0.9)
    cuda = device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=amp and cuda)
    dtype = torch.float16 if cuda else torch.bfloat16
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = []
    for k, batch in enumerate(batches):
        _sync(device)
        t = time.perf_counter()
        with EventStorage(k), torch.autocast("cuda" if cuda else "cpu", dtype=dtype, enabled=amp):
            losses = model(batch)
        loss = sum(losses.values())
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        _sync(device)
        if k >= warmup:
            times.append(time.perf_counter() - t)
    return statistics.median(times), _peak_mb(device)


@torch.no_grad()
def inference_time(model, images, device: str, detections: int) -> float:
    """Median seconds per image (batch 1, post-processing included)."""
    model.eval()
    times = []
    for k, inp in enumerate(images):
        _sync(device)
        t = time.perf_counter()
        out = model([{"image": inp["image"], "height": inp["height"], "width": inp["width"]}])
        _sync(device)
        if k:  # the first image warms up
            times.append(time.perf_counter() - t)
        if len(out[0]["instances"]) > detections:  # TEST.DETECTIONS_PER_IMAGE not applied
            raise RuntimeError(f"{len(out[0]['instances'])} detections, more than {detections}")
    return statistics.median(times)


def measure_row(a, index: int, amp: bool) -> dict:
    """One row in this process (a fresh process per row keeps peak memory per row)."""
    rng = np.random.default_rng(0)
    batches = [
        synthetic_batch(rng, a.batch, a.min_size, a.max_size, a.device)
        for _ in range(a.warmup + a.iters)
    ]
    images = synthetic_batch(rng, a.infer_images + 1, a.min_size, a.max_size, a.device)
    name, config, opts = ROWS[index]
    torch.manual_seed(0)
    opts = opts + ["TEST.DETECTIONS_PER_IMAGE", str(a.detections)] + a.opts
    model, _ = build(config, opts, a.device)
    seconds, peak = train_step_time(model, batches, a.device, amp, a.warmup)
    infer = inference_time(model, images, a.device, a.detections) if not amp else None
    return {"seconds": seconds, "peak_mb": peak, "inference_seconds": infer, "opts": opts}


def argument_parser():
    from eql.utils.arguments import count, nonnegative_int

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch", type=count, default=16)
    p.add_argument("--min-size", type=count, default=800)
    p.add_argument("--max-size", type=count, default=1333)
    p.add_argument("--iters", type=count, default=10, help="measured iterations")
    p.add_argument("--warmup", type=nonnegative_int, default=3)
    p.add_argument("--infer-images", type=count, default=20)
    p.add_argument(
        "--detections",
        type=count,
        default=300,
        help="detections an image at inference (LVIS: 300); fewer for a quick check on a CPU, "
        "where the mask head over 300 boxes takes most of an image's time",
    )
    p.add_argument(
        "--rows",
        nargs="+",
        default=None,
        choices=[name for name, _, _ in ROWS],
        metavar="ROW",
        help="row names to run (default: all): " + ", ".join(repr(name) for name, _, _ in ROWS),
    )
    p.add_argument("--no-amp", action="store_true", help="fp32 only")
    p.add_argument("--one", nargs=2, type=int, help=argparse.SUPPRESS)
    p.add_argument(
        "opts",
        nargs=argparse.REMAINDER,
        help="config options KEY VALUE ... for every row, after its own (last on the line)",
    )
    return p


# keys the script sets itself: given as config options they would be overridden or contradict it
OWNED_KEYS = {
    "MODEL.DEVICE": "set by --device",
    "TEST.DETECTIONS_PER_IMAGE": "set by --detections",
    "MODEL.RESNETS.NORM": "BN: random weights need it",
    "MODEL.BACKBONE.FREEZE_AT": "0: random weights need it",
}


def check_options(rows, opts) -> None:
    """Each row's config with the extra options, loaded here: a bad key or value is one
    ConfigError naming it, before any row starts."""
    from eql.config import load_config
    from eql.errors import ConfigError
    from eql.model_zoo import config_path

    for key in opts[::2]:
        if key in OWNED_KEYS:
            raise ConfigError(f"config option {key}: {OWNED_KEYS[key]}")
    for _, config, row_opts in rows:
        load_config(config_path(config), list(row_opts) + list(opts))


def main(argv=None):
    from eql.errors import ConfigError

    parser = argument_parser()
    a = parser.parse_args(argv)
    if a.one:
        print(json.dumps(measure_row(a, a.one[0], bool(a.one[1]))))
        return 0
    chosen = [i for i, (name, _, _) in enumerate(ROWS) if a.rows is None or name in a.rows]
    try:
        check_options([ROWS[i] for i in chosen], a.opts)
    except ConfigError as e:
        parser.error(str(e))
    device = torch.cuda.get_device_name() if a.device.startswith("cuda") else "CPU"
    print(
        f"{device}, torch {torch.__version__}, batch {a.batch}, {a.min_size}-{a.max_size} px, "
        f"median of {a.iters} iterations after {a.warmup}; {time.strftime('%Y-%m-%d')}"
        + (f"; config options {' '.join(a.opts)}" if a.opts else "")
    )
    passed = [x for x in (argv if argv is not None else sys.argv[1:])]
    results = {}
    for amp in (False,) if a.no_amp else (False, True):
        for index in chosen:
            name = ROWS[index][0]
            # --one first: the config options at the end of the line take the rest of it
            args = ["--one", str(index), str(int(amp)), *passed]
            what = f"{name} (AMP {amp})"
            results[name, amp] = run_json_child(os.path.abspath(__file__), args, what)
    print("| model | AMP | s / iteration | vs baseline | peak memory MB | inference s / image |")
    print("| --- | --- | --- | --- | --- | --- |")
    for (name, amp), r in results.items():
        base = results.get((BASELINES[family(name)], amp))
        ratio = f"{r['seconds'] / base['seconds']:.3f}" if base else "-"
        infer = r["inference_seconds"]
        print(
            f"| {name} | {'yes' if amp else 'no'} | {r['seconds']:.3f} | {ratio} | "
            f"{r['peak_mb']:.0f} | {f'{infer:.3f}' if infer is not None else '-'} |"
        )
    return results


if __name__ == "__main__":
    main()
