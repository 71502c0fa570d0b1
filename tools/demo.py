#!/usr/bin/env python
"""The eql demo: generate a small synthetic long-tailed LVIS set, train Mask R-CNN on CPU with
sigmoid cross-entropy and with EQL (same data, schedule and seed), evaluate both on the val split
and print the LVIS table (AP, APr, APc, APf; box and mask) side by side.

    python tools/demo.py                    # the default: ~300 train / 100 val images
    python tools/demo.py --output-dir /tmp/demo --max-iter 100
"""

import argparse
import json
import logging
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_MODELS = {
    # name -> config (trained one after the other, the same data and schedule)
    "sigmoid CE": "configs/quick_schedules/synthetic_sigmoid_mask_rcnn_R_18_FPN_demo.yaml",
    "EQL": "configs/quick_schedules/synthetic_eql_mask_rcnn_R_18_FPN_demo.yaml",
}
TABLE_METRICS = ("AP", "APr", "APc", "APf")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--output-dir", default=os.path.join(REPO, "output", "demo"))
    p.add_argument("--num-train-images", type=int, default=300)
    p.add_argument("--num-val-images", type=int, default=100)
    p.add_argument("--num-classes", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-iter", type=int, default=None, help="override SOLVER.MAX_ITER")
    p.add_argument("--models", nargs="+", default=list(DEMO_MODELS), choices=list(DEMO_MODELS))
    return p.parse_args(argv)


def prepare_data(args) -> str:
    from eql.data import generate_synthetic_lvis

    root = os.path.join(args.output_dir, "data")
    wanted = {
        "seed": args.seed,
        "num_classes": args.num_classes,
        "num_train_images": args.num_train_images,
        "num_val_images": args.num_val_images,
    }
    stamp = os.path.join(root, "demo_params.json")
    if os.path.isfile(stamp):
        with open(stamp) as f:
            if json.load(f) == wanted:
                print(f"[demo] synthetic set already in {root}")
                return root
    print(f"[demo] generating the synthetic set in {root}")
    generate_synthetic_lvis(
        root,
        args.num_train_images,
        args.num_val_images,
        args.num_classes,
        image_size=128,
        seed=args.seed,
        progress=True,
    )
    with open(stamp, "w") as f:
        json.dump(wanted, f)
    return root


def train_and_evaluate(name, config, data_root, args):
    from eql.config import load_config
    from eql.data import register_synthetic_lvis
    from eql.engine import Trainer

    register_synthetic_lvis(data_root, "demo_synthetic")
    out = os.path.join(args.output_dir, name.replace(" ", "_"))
    opts = [
        "DATASETS.TRAIN",
        "('demo_synthetic_train',)",
        "DATASETS.TEST",
        "('demo_synthetic_val',)",
        "MODEL.ROI_HEADS.NUM_CLASSES",
        str(args.num_classes),
        "OUTPUT_DIR",
        out,
    ]
    if args.max_iter:
        opts += ["SOLVER.MAX_ITER", str(args.max_iter)]
    cfg = load_config(os.path.join(REPO, config), opts)
    cfg.freeze()
    os.makedirs(out, exist_ok=True)
    print(
        f"[demo] training '{name}' for {cfg.SOLVER.MAX_ITER} iterations "
        f"(progress every 20 iterations)"
    )
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    # detectron2's trainer evaluates DATASETS.TEST after the last iteration and returns the results
    return trainer.train()


def format_table(rows) -> str:
    """rows: {model name: {"bbox": {...}, "segm": {...}}} -> a text table."""
    header = ["model"] + [f"box {m}" for m in TABLE_METRICS] + [f"mask {m}" for m in TABLE_METRICS]
    lines = [header]
    for name, res in rows.items():
        lines.append(
            [name]
            + [
                f"{res.get(t, {}).get(m, float('nan')):.1f}"
                for t in ("bbox", "segm")
                for m in TABLE_METRICS
            ]
        )
    widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
    fmt = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(lines[0]), sep] + [fmt(r) for r in lines[1:]])


def main(argv=None):
    args = parse_args(argv)
    logging.getLogger("lvis").setLevel(logging.ERROR)
    t0 = time.time()
    from detectron2.utils.logger import setup_logger

    import eql  # noqa: F401

    os.makedirs(args.output_dir, exist_ok=True)
    setup_logger(args.output_dir, name="detectron2")  # log.txt in the output folder
    setup_logger(args.output_dir, name="eql")
    data_root = prepare_data(args)
    rows = {}
    for name in args.models:
        rows[name] = train_and_evaluate(name, DEMO_MODELS[name], data_root, args)
    table = format_table(rows)
    with open(os.path.join(args.output_dir, "results.md"), "w") as f:
        f.write(table + "\n")
    print(f"\n[demo] LVIS metrics on the synthetic val split ({time.time() - t0:.0f} s in all):\n")
    print(table)
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
