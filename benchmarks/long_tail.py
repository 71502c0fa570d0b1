#!/usr/bin/env python
"""The long-tail benchmark: every loss trained with the same config and schedule on one LVIS
v1-shaped synthetic set (LVIS's bins 1-10 / 11-100 / > 100 training images in its proportions,
classes that share shapes, colours and textures, federated labels) for K seeds; per loss AP, APr,
APc, APf as mean ± std and the paired difference to sigmoid CE with its 95% interval.

    python benchmarks/long_tail.py --size smoke                 # CPU: 100 classes, 64 px
    python benchmarks/long_tail.py --size gpu --rfs both        # GPU: 300 classes, R-50, 192 px
    python benchmarks/long_tail.py --size smoke --losses sigmoid_ce eql --seeds 5 --max-runs 4

Writes into --output-dir: the set (data/), one folder per run (runs/<loss>/seed<k>: tools/train_net
output, its train.log and, for the sigmoid losses, gradient_stats.json), summary.{md,csv,png} and
gradient_ratio.png (each class's accumulated positive / negative gradient, classes by training
frequency, one curve per sigmoid loss, first seed). Calling it again resumes: finished runs are
kept, an interrupted one is trained again from its start (see
eql/benchmark/long_tail_sweep.py); --max-runs trains at most that many runs per call (for
time-limited machines). --eval-tag / --eval-opts evaluate the finished runs' models again under
other test settings, e.g. LVIS's AP-fixed protocol:

    python benchmarks/long_tail.py --size smoke --eval-tag fixed \
        --eval-opts "TEST.LVIS.AP_FIXED True"
"""

import argparse
import os
import shlex
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from eql.benchmark.long_tail_sweep import (  # noqa: E402
    SIZES,
    Sweep,
    SweepError,
    evaluate_again,
    records_gradients,
    run_sweep,
    with_rfs,
)
from eql.errors import report_user_errors  # noqa: E402

# the labels a run trains by default (any label of eql.benchmark.long_tail_sizes.loss_opts())
DEFAULT_LOSSES = ["sigmoid_ce", "eql", "eqlv2", "softmax_ce", "seesaw", "sigmoid_ce_fed"]


def argument_parser():
    from eql.utils.arguments import count

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size", default="smoke", choices=sorted(SIZES))
    p.add_argument(
        "--losses", nargs="+", default=DEFAULT_LOSSES, help=f"of {DEFAULT_LOSSES} (default: all)"
    )
    p.add_argument(
        "--rfs",
        default="off",
        choices=["off", "on", "both"],
        help="repeat-factor sampling (threshold: LVIS's 100 images): without it (off), with it "
        "(on), or each loss both ways",
    )
    p.add_argument("--seeds", type=count, default=3, help="K: seeds 0..K-1 (default 3)")
    p.add_argument("--output-dir", default=None, help="default: output/long_tail/<size>")
    p.add_argument("--max-iter", type=count, default=None, help="override SOLVER.MAX_ITER")
    p.add_argument("--max-runs", type=count, default=None, help="train at most N runs this call")
    p.add_argument("--task", default="bbox", choices=["bbox", "segm"])
    p.add_argument(
        "--eval-tag",
        default="",
        help="also evaluate every finished run's final model with --eval-opts into "
        "<run>/eval_<tag>, summarised in summary_<tag>.{md,csv,png}",
    )
    p.add_argument(
        "--eval-opts",
        default="",
        help='test options of --eval-tag, one string, e.g. "TEST.LVIS.AP_FIXED True"',
    )
    p.add_argument("opts", nargs=argparse.REMAINDER, help="more config options for every run")
    return p


def parse_args(argv):
    return argument_parser().parse_args(argv)


def labels_of(losses, rfs):
    if rfs == "off":
        return list(losses)
    if rfs == "on":
        return [with_rfs(x) for x in losses]
    return [y for x in losses for y in (x, with_rfs(x))]


def write_gradient_picture(sweep: Sweep, path: str) -> str:
    """gradient_ratio.png from the first seed's run of each sigmoid loss; '' when none ran."""
    from eql.diagnostics.gradient_stats_plot import curves, load_stats, plot_ratio_curves

    series = []
    for label in sweep.labels:
        run_dir = sweep.run_dir(label, sweep.seeds[0])
        if records_gradients(label) and os.path.isdir(run_dir):
            if os.path.isfile(os.path.join(run_dir, "gradient_stats.json")):
                series += curves(load_stats(run_dir), label)
    if not series:
        return ""
    title = f"positive / negative gradient ratio per class (seed {sweep.seeds[0]}, log scale)"
    plot_ratio_curves(series, path, log=True, title=title)
    return path


def write_summary(sweep: Sweep, runs, task: str, tag: str = "") -> str:
    from eql.benchmark.run_summary import summarize
    from eql.benchmark.run_summary_report import markdown_table, plot_summary, write_csv
    from eql.utils.io import atomic_write

    baseline = "sigmoid_ce" if "sigmoid_ce" in sweep.labels else sweep.labels[0]
    rows = summarize(runs, baseline, task)
    table = markdown_table(rows, baseline)
    stem = os.path.join(sweep.output_dir, f"summary_{tag}" if tag else "summary")
    with atomic_write(stem + ".md") as f:
        f.write(table)
    write_csv(stem + ".csv", rows)
    title = f"{sweep.size_name} set, {task}{f' ({tag})' if tag else ''}: mean ± std over seeds"
    plot_summary(stem + ".png", rows, title)
    return table


@report_user_errors
def main(argv=None) -> int:
    a = parse_args(argv)
    if bool(a.eval_tag) != bool(a.eval_opts):
        raise SweepError("--eval-tag and --eval-opts go together")
    if a.task == "segm" and a.size == "smoke":
        raise SweepError("--task segm: the smoke size trains boxes only (MODEL.MASK_ON False)")
    if a.output_dir:
        from eql.utils.paths import check_writable

        check_writable(a.output_dir, "--output-dir", folder=True)
    sweep = Sweep(
        output_dir=a.output_dir or os.path.join(REPO, "output", "long_tail", a.size),
        size_name=a.size,
        size=SIZES[a.size],
        labels=labels_of(a.losses, a.rfs),
        seeds=list(range(a.seeds)),
        max_iter=a.max_iter,
        extra_opts=a.opts,
    )
    runs = run_sweep(sweep, a.max_runs, task=a.task)
    missing = len(sweep.runs) - len(runs)
    if not runs:
        print(f"no run finished yet in {sweep.output_dir}; run again to continue")
        return 0
    table = write_summary(sweep, runs, a.task)
    picture = write_gradient_picture(sweep, os.path.join(sweep.output_dir, "gradient_ratio.png"))
    print(f"\n{a.task} on the {a.size} set's val split, {len(runs)} runs:\n")
    print(table, end="")
    print(
        f"\nwrote {sweep.output_dir}/summary.{{md,csv,png}}"
        + (f" and {picture}" if picture else "")
    )
    if a.eval_tag:
        again = evaluate_again(sweep, a.eval_tag, shlex.split(a.eval_opts), task=a.task)
        table = write_summary(sweep, again, a.task, a.eval_tag)
        print(f"\nthe same models evaluated with {a.eval_opts} ({a.eval_tag}):\n")
        print(table, end="")
        print(f"\nwrote {sweep.output_dir}/summary_{a.eval_tag}.{{md,csv,png}}")
    if missing:
        print(f"{missing} of {len(sweep.runs)} runs still to train: run the same command again")
    return 0


if __name__ == "__main__":
    sys.exit(main())
