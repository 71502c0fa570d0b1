#!/usr/bin/env python
"""The positive / negative gradient ratio of a run interval by interval, from its checkpoints:
per gradient record (one per loss; Cascade R-CNN: one per stage) and interval between two
checkpoints, the mean ratio of the rare / common / frequent classes over that interval alone and
its share of the run's negative gradient. The ratio the run logs is cumulative from the first step.

    python tools/gradient_intervals.py output/eqlv2 output/sigmoid_ce

Each input is an OUTPUT_DIR trained with MODEL.EQL.GRADIENT_STATS.PERIOD > 0 (its
gradient_stats.json gives the classes' frequency bins) holding checkpoints model_<iteration>.pth.
"""

import argparse
import sys

from eql.errors import report_user_errors


def argument_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("run_dirs", nargs="+", help="OUTPUT_DIRs of training runs")
    return p


@report_user_errors
def main(argv=None) -> int:
    from eql.diagnostics.gradient_intervals import interval_ratios, interval_table

    a = argument_parser().parse_args(argv)
    tables = [(run, interval_table(interval_ratios(run))) for run in a.run_dirs]  # all read first
    for run, table in tables:
        print(f"{run}:\n\n{table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
