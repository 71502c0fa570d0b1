#!/usr/bin/env python
"""The long-tail benchmark: every loss trained with the same config and schedule on one LVIS
v1-shaped synthetic set (LVIS's bins 1-10 / 11-100 / > 100 training images in its proportions,
classes that share shapes, colours and textures, federated labels) for K seeds; per loss AP, APr,
APc, APf as mean ± std and the paired difference to sigmoid CE with its 95% interval.

    python benchmarks/long_tail.py --size smoke                 # CPU: 100 classes, 64 px
    python benchmarks/long_tail.py --size gpu --rfs both        # GPU: 300 classes, R-50, 192 px
    python benchmarks/long_tail.py --size smoke --losses sigmoid_ce eql --seeds 5 --max-runs 4
    python benchmarks/long_tail.py --size demo --losses sigmoid_ce eql eqlv2 seesaw \
        --recipe both --schedule 1 2 4                          # the schedule-length trend
    python benchmarks/long_tail.py --size demo_retinanet       # one-stage: focal loss vs EFL

One protocol: every sigmoid loss trains from the same start (class prior 0.001, linear
classifier), every softmax loss from the same softmax start, RetinaNet's losses from RetinaNet's
prior (eql/benchmark/long_tail_variants.py); --recipe official / both adds each loss's official
recipe where it starts otherwise (EQLv2's zero biases, Seesaw's cosine classifier) as the label
<loss>_official. --schedule K multiplies the config's iterations and learning-rate steps by K;
several values train each in <output-dir>/<K>x and write trend.md (every schedule's table) there.

Writes into --output-dir: the set (data/), one folder per run (runs/<loss>/seed<k>: tools/train_net
output, its train.log and, for the sigmoid losses, gradient_stats.json), summary.{md,csv,png},
gradient_ratio.png (each class's accumulated positive / negative gradient, classes by training
frequency, one curve per sigmoid loss, first seed) and gradient_ratio_over_iterations.png (the
rare / common / frequent mean ratio over iterations, per loss, mean over seeds). Calling it again
resumes: finished runs are kept, an interrupted one goes on from its last checkpoint (see
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
    finished_runs,
    records_gradients,
    run_sweep,
    trains_masks,
)
from eql.benchmark.long_tail_trend import (  # noqa: E402
    HISTORY_PICTURE,
    schedule_name,
    write_history_picture,
    write_trend,
)
from eql.benchmark.long_tail_variants import RECIPES, baseline_loss, labels_of  # noqa: E402
from eql.errors import report_user_errors  # noqa: E402
from eql.modeling.heads import DENSE_HEAD, ROI_HEAD  # noqa: E402

# the labels a run trains by default, per head kind (any label of
# eql.benchmark.long_tail_variants.loss_opts(head))
DEFAULT_LOSSES = {
    ROI_HEAD: ["sigmoid_ce", "eql", "eqlv2", "softmax_ce", "seesaw", "sigmoid_ce_fed"],
    DENSE_HEAD: ["focal", "efl"],
}


def argument_parser():
    from eql.utils.arguments import count, multiple, nonnegative_int

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size", default="smoke", choices=sorted(SIZES))
    p.add_argument(
        "--losses",
        nargs="+",
        default=None,
        help=f"default: {DEFAULT_LOSSES[ROI_HEAD]} (R-CNN sizes), {DEFAULT_LOSSES[DENSE_HEAD]} "
        "(RetinaNet)",
    )
    p.add_argument(
        "--recipe",
        default="protocol",
        choices=RECIPES,
        help="every loss from its kind's common start (protocol), each loss's official recipe "
        "where it starts otherwise (official: labels <loss>_official), or both",
    )
    p.add_argument(
        "--schedule",
        nargs="+",
        type=multiple,
        default=[1],
        metavar="K",
        help="K times the config's iterations and steps (1, 2, 4 or 1x, 2x, 4x); several: each in "
        "<output-dir>/<K>x, with trend.md",
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
    p.add_argument(
        "--max-runs",
        type=nonnegative_int,
        default=None,
        help="train at most N runs this call (0: only summarize the finished runs)",
    )
    p.add_argument(
        "--jobs",
        type=count,
        default=1,
        help="train N runs at a time (processes; on a GPU they share it). CPU runs' numbers "
        "depend on their thread count (OMP_NUM_THREADS), not on N",
    )
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


def write_gradient_picture(sweep: Sweep, path: str) -> str:
    """gradient_ratio.png from the first seed's run of each sigmoid loss; '' when none ran."""
    from eql.diagnostics.gradient_stats_plot import curves, load_stats, plot_ratio_curves

    series = []
    for label in sweep.labels:
        run_dir = sweep.run_dir(label, sweep.seeds[0])
        if records_gradients(label, sweep.size.head) and os.path.isdir(run_dir):
            if os.path.isfile(os.path.join(run_dir, "gradient_stats.json")):
                series += curves(load_stats(run_dir), label)
    if not series:
        return ""
    title = f"positive / negative gradient ratio per class (seed {sweep.seeds[0]}, log scale)"
    plot_ratio_curves(series, path, log=True, title=title)
    return path


def baseline_of(sweep: Sweep) -> str:
    """The label every other is compared with: the head's plain loss, else the first label."""
    plain = baseline_loss(sweep.size.head)
    return plain if plain in sweep.labels else sweep.labels[0]


def write_summary(sweep: Sweep, runs, task: str, tag: str = "") -> str:
    from eql.benchmark.run_summary import summarize
    from eql.benchmark.run_summary_report import markdown_table, plot_summary, write_csv
    from eql.utils.io import atomic_write

    baseline = baseline_of(sweep)
    rows = summarize(runs, baseline, task)
    table = markdown_table(rows, baseline)
    stem = os.path.join(sweep.output_dir, f"summary_{tag}" if tag else "summary")
    with atomic_write(stem + ".md") as f:
        f.write(table)
    write_csv(stem + ".csv", rows)
    title = f"{sweep.size_name} set, {task}{f' ({tag})' if tag else ''}: mean ± std over seeds"
    plot_summary(stem + ".png", rows, title)
    return table


def report_sweep(sweep: Sweep, runs, a) -> None:
    """One schedule's summary, pictures and re-evaluation (--eval-tag), printed and written."""
    missing = len(sweep.runs) - len(runs)
    if not runs:
        print(f"no run finished yet in {sweep.output_dir}; run again to continue")
        return
    table = write_summary(sweep, runs, a.task)
    picture = write_gradient_picture(sweep, os.path.join(sweep.output_dir, "gradient_ratio.png"))
    history = write_history_picture(
        [sweep], sweep.labels, os.path.join(sweep.output_dir, HISTORY_PICTURE)
    )
    print(f"\n{a.task} on the {a.size} set's val split, {len(runs)} runs:\n")
    print(table, end="")
    pictures = "".join(f" and {p}" for p in (picture, history) if p)
    print(f"\nwrote {sweep.output_dir}/summary.{{md,csv,png}}{pictures}")
    if a.eval_tag:
        again = evaluate_again(sweep, a.eval_tag, shlex.split(a.eval_opts), task=a.task)
        table = write_summary(sweep, again, a.task, a.eval_tag)
        print(f"\nthe same models evaluated with {a.eval_opts} ({a.eval_tag}):\n")
        print(table, end="")
        print(f"\nwrote {sweep.output_dir}/summary_{a.eval_tag}.{{md,csv,png}}")
    if missing:
        print(f"{missing} of {len(sweep.runs)} runs still to train: run the same command again")


@report_user_errors
def main(argv=None) -> int:
    a = parse_args(argv)
    if bool(a.eval_tag) != bool(a.eval_opts):
        raise SweepError("--eval-tag and --eval-opts go together")
    if a.task == "segm" and not trains_masks(SIZES[a.size]):
        raise SweepError(f"--task segm: the {a.size} size trains boxes only (MODEL.MASK_ON False)")
    if a.output_dir:
        from eql.utils.paths import check_writable

        check_writable(a.output_dir, "--output-dir", folder=True)
    if len(set(a.schedule)) != len(a.schedule):
        raise SweepError(f"--schedule: a value given twice: {a.schedule}")
    size = SIZES[a.size]
    root = a.output_dir or os.path.join(REPO, "output", "long_tail", a.size)
    labels = labels_of(a.losses or DEFAULT_LOSSES[size.head], a.rfs, a.recipe, size.head)
    sweeps = [
        Sweep(
            output_dir=root if len(a.schedule) == 1 else os.path.join(root, schedule_name(k)),
            size_name=a.size,
            size=size,
            labels=labels,
            seeds=list(range(a.seeds)),
            max_iter=a.max_iter,
            extra_opts=a.opts,
            schedule=k,
            recipe=a.recipe,
        )
        for k in a.schedule
    ]
    budget, by_schedule = a.max_runs, []
    for sweep in sweeps:
        if len(sweeps) > 1:
            print(f"\n== schedule {schedule_name(sweep.schedule)}: {sweep.output_dir}")
        before = len(finished_runs(sweep, a.task))
        runs = run_sweep(sweep, budget, task=a.task, jobs=a.jobs)
        if budget is not None:
            budget = max(0, budget - (len(runs) - before))
        report_sweep(sweep, runs, a)
        if runs:
            by_schedule.append((sweep, runs))
    if len(sweeps) > 1 and by_schedule:
        from eql.benchmark.run_summary import summarize

        table = write_trend(
            root,
            [
                (s.schedule, s.iterations, summarize(r, baseline_of(s), a.task))
                for s, r in by_schedule
            ],
            baseline_of(sweeps[0]),
        )
        picture = write_history_picture(sweeps, labels, os.path.join(root, HISTORY_PICTURE))
        print(f"\n{a.task} on the {a.size} set's val split, by schedule:\n")
        print(table, end="")
        print(f"\nwrote {root}/trend.md" + (f" and {picture}" if picture else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
