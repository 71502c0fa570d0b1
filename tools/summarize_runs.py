#!/usr/bin/env python
"""Mean ± std over seeds of each loss's final AP / APr / APc / APf, and the paired difference to a
baseline loss with its 95% interval, from training OUTPUT_DIRs.

    python tools/summarize_runs.py output/sigmoid_s* output/eql_s* --out output/summary
    python tools/summarize_runs.py "EQL=runs/a" "EQL=runs/b" "sigmoid_ce=runs/c" ... --task segm

A run's loss and seed come from its config.yaml (MODEL.EQL.LOSS, with _rfs / _fed; SEED) unless
given as LABEL=DIR; its metrics from the last evaluation in metrics.json. Runs of two losses are
paired by seed. Prints the Markdown table; with --out also writes summary.md, summary.csv and
summary.png (APr / APc / APf with error bars).
"""

import argparse
import os
import sys

from eql.benchmark.run_summary import METRICS, RunError, load_run, summarize
from eql.errors import report_user_errors


def argument_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("runs", nargs="+", help="OUTPUT_DIRs, or LABEL=DIR")
    p.add_argument("--baseline", default="sigmoid_ce", help="label of the reference loss")
    p.add_argument("--task", default="bbox", choices=["bbox", "segm"])
    p.add_argument("--out", default=None, help="folder for summary.{md,csv,png}")
    return p


@report_user_errors
def main(argv=None) -> int:
    from eql.utils.paths import check_writable

    a = argument_parser().parse_args(argv)
    if a.out:
        check_writable(a.out, "--out", folder=True)
    from eql.benchmark.run_summary_report import markdown_table, plot_summary, write_csv

    rows = summarize([load_run(r, a.task) for r in a.runs], a.baseline, a.task)
    if a.baseline not in {r.label for r in rows}:
        raise RunError(
            f"--baseline {a.baseline!r}: no run has that label ({[r.label for r in rows]})"
        )
    table = markdown_table(rows, a.baseline, METRICS)
    print(table, end="")
    if a.out:
        from eql.utils.io import atomic_write

        os.makedirs(a.out, exist_ok=True)
        with atomic_write(os.path.join(a.out, "summary.md")) as f:
            f.write(table)
        write_csv(os.path.join(a.out, "summary.csv"), rows)
        plot_summary(os.path.join(a.out, "summary.png"), rows, f"{a.task}: mean ± std over seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
