#!/usr/bin/env python
"""Plots the positive / negative gradient ratio of every class, classes sorted by training
frequency (most frequent first), one curve per run: the picture of the EQL and EQLv2 papers.

    python tools/plot_gradient_stats.py output/sigmoid output/eqlv2 -o ratio.png
    python tools/plot_gradient_stats.py a/gradient_stats.json --labels "EQL" --log

Each input is a gradient_stats.json (written with MODEL.EQL.GRADIENT_STATS.PERIOD > 0) or the
OUTPUT_DIR holding one. A run with several records (Cascade R-CNN: one per stage) gives one curve
per record unless --record picks one (a module path or its tag, e.g. roi_heads.box_predictor.2).
"""

import argparse
import os
import sys

from eql.diagnostics.gradient_stats_plot import curves, load_stats, plot_ratio_curves
from eql.errors import report_user_errors


def argument_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("inputs", nargs="+", help="gradient_stats.json files or OUTPUT_DIRs")
    p.add_argument("-o", "--output", default="gradient_ratio.png", help="PNG to write")
    p.add_argument("--labels", nargs="*", help="one per input (default: the loss and folder)")
    p.add_argument("--record", default="", help="plot only this record (module path or tag)")
    p.add_argument("--log", action="store_true", help="logarithmic ratio axis")
    p.add_argument("--title", default="gradient ratio per class")
    return p


@report_user_errors
def main(argv=None) -> int:
    from eql.utils.paths import check_writable

    a = argument_parser().parse_args(argv)
    check_writable(a.output, "--output", folder=False, inputs=a.inputs)
    if a.labels and len(a.labels) != len(a.inputs):
        print(
            f"error: --labels: {len(a.labels)} labels for {len(a.inputs)} inputs", file=sys.stderr
        )
        return 2
    series = []
    for k, path in enumerate(a.inputs):
        data = load_stats(path)
        folder = os.path.basename(os.path.dirname(os.path.abspath(data["path"])))
        label = a.labels[k] if a.labels else f"{data.get('loss', '?')} ({folder})"
        series += curves(data, label, a.record)
    plot_ratio_curves(series, a.output, a.log, a.title)
    print(f"wrote {a.output} ({len(series)} curves)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
