#!/usr/bin/env python
"""The eql demo: sigmoid cross-entropy against the Equalization Loss on a long-tailed set.

Generates the long-tail benchmark's small set (50 classes whose training image counts follow LVIS
v1's own: 14 rare in 1-10 images, 19 common in 11-100, 17 frequent in 101-150; 1,000 training
images of 64 x 64 pixels, and 400 val images in which every class is drawn alike), trains the
same Faster R-CNN R-18-FPN on CPU twice, with sigmoid CE and with EQL (same data, schedule and
seed), evaluates both on the val split with LVIS's detection budget per class (12 detections an
image for 50 classes, as 300 for LVIS's 1,203) and prints box AP, APr, APc, APf and EQL's
difference; writes gradient_ratio.png, the positive / negative gradient ratio of every class for
both losses (classes sorted by training frequency).

    python tools/demo.py                      # ~8 minutes on 2 CPU cores
    python tools/demo.py --seed 3 --output-dir /tmp/demo

These are two runs of `python benchmarks/long_tail.py --size demo --losses sigmoid_ce eql`, whose
5-seed table (README) says how far one seed's difference is from the run-to-run noise (EQL's APr
above sigmoid CE's in each of 5 seeds there). A second call with the same folder and seed reuses
the finished runs.
"""

import argparse
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from eql.errors import report_user_errors  # noqa: E402

LOSSES = ("sigmoid_ce", "eql")


def argument_parser():
    from eql.utils.arguments import count, nonnegative_int

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--output-dir", default=os.path.join(REPO, "output", "demo"))
    p.add_argument(
        "--seed", type=nonnegative_int, default=0, help="training seed (SEED) of both runs"
    )
    p.add_argument("--max-iter", type=count, default=None, help="override SOLVER.MAX_ITER")
    return p


def parse_args(argv=None):
    return argument_parser().parse_args(argv)


def format_table(runs) -> str:
    """Box AP / APr / APc / APf of each run and the second's difference to the first."""
    metrics = ("AP", "APr", "APc", "APf")
    rows = [["loss"] + [f"box {m}" for m in metrics]]
    for run in runs:
        rows.append([run.label] + [f"{run.metrics[f'bbox/{m}']:.1f}" for m in metrics])
    base, other = runs[0].metrics, runs[-1].metrics
    rows.append([f"{runs[-1].label} - {runs[0].label}"] + [
        f"{other[f'bbox/{m}'] - base[f'bbox/{m}']:+.1f}" for m in metrics
    ])  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    fmt = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(rows[0]), sep] + [fmt(r) for r in rows[1:]])


@report_user_errors
def main(argv=None) -> int:
    args = parse_args(argv)
    from eql.utils.paths import check_writable

    check_writable(args.output_dir, "--output-dir", folder=True)
    t0 = time.time()
    from eql.benchmark.long_tail_sweep import SIZES, Sweep, run_sweep

    sweep = Sweep(
        output_dir=args.output_dir,
        size_name="demo",
        size=SIZES["demo"],
        labels=LOSSES,
        seeds=[args.seed],
        max_iter=args.max_iter,
    )
    from eql.config import load_config

    max_iter = args.max_iter
    if max_iter is None:
        max_iter = load_config(os.path.join(REPO, sweep.size.config)).SOLVER.MAX_ITER

    def progress(line):
        print(f"    {line} of {max_iter}", flush=True)

    runs = run_sweep(sweep, log=lambda m: print(f"[demo] {m}", flush=True), progress=progress)
    table = format_table(runs)
    from eql.diagnostics.gradient_stats_plot import curves, load_stats, plot_ratio_curves
    from eql.utils.io import atomic_write

    with atomic_write(os.path.join(args.output_dir, "results.md")) as f:
        f.write(table + "\n")
    picture = os.path.join(args.output_dir, "gradient_ratio.png")
    series = []
    for label in LOSSES:
        series += curves(load_stats(sweep.run_dir(label, args.seed)), label)
    plot_ratio_curves(series, picture, log=True, title="positive / negative gradient per class")
    print(
        f"\n[demo] box LVIS metrics on the val split ({sweep.size.num_val_images} images), seed "
        f"{args.seed} "
        f"({time.time() - t0:.0f} s in all):\n"
    )
    print(table)
    print(f"\n[demo] wrote {picture} and {args.output_dir}/results.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
