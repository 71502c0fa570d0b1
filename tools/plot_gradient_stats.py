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
from typing import Dict, List, Tuple

BIN_COLOURS = {"r": "#d62728", "c": "#ff7f0e", "f": "#2ca02c"}


class InputError(ValueError):
    """A bad input file; the message names it."""


def load_stats(path: str) -> Dict:
    """A gradient_stats.json, from its path or its OUTPUT_DIR, checked."""
    from eql.gradient_stats import FILE_NAME, FORMAT
    from eql.io_utils import read_json

    if os.path.isdir(path):
        path = os.path.join(path, FILE_NAME)
    if not os.path.isfile(path):
        raise InputError(f"{path}: not found (train with MODEL.EQL.GRADIENT_STATS.PERIOD > 0)")
    data = read_json(path, InputError)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{path}: not a gradient statistics file (field 'format' != {FORMAT!r})")
    if not data.get("records"):
        raise InputError(f"{path}: field 'records' is empty")
    data["path"] = path
    return data


def curves(data: Dict, label: str, record: str = "") -> List[Tuple[str, List[float], List[str]]]:
    """(label, ratios sorted by decreasing training frequency, their bins) for each record."""
    from eql.gradient_stats import record_tag

    classes = data.get("classes") or {}
    out = []
    for path, rec in sorted(data["records"].items()):
        if record and record not in (path, record_tag(path)):
            continue
        ratio = rec["ratio"]
        counts = classes.get("image_count") or [0] * len(ratio)
        bins = classes.get("frequency") or [""] * len(ratio)
        if len(counts) != len(ratio):
            raise InputError(f"{data['path']}: {len(counts)} classes but {len(ratio)} ratios")
        order = sorted(range(len(ratio)), key=lambda j: (-counts[j], j))
        name = label if len(data["records"]) == 1 or record else f"{label} {record_tag(path)}"
        out.append((name, [ratio[j] for j in order], [bins[j] for j in order]))
    if not out:
        raise InputError(f"{data['path']}: no record named {record!r}")
    return out


def plot(series, output: str, log: bool, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from eql.io_utils import save_figure_atomic

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, ratio, _ in series:
        ax.plot(range(len(ratio)), ratio, linewidth=1.2, label=name)
    bins = series[0][2]
    for b, colour in BIN_COLOURS.items():  # shade the frequency bins of the first run
        idx = [i for i, x in enumerate(bins) if x == b]
        if idx:
            ax.axvspan(min(idx) - 0.5, max(idx) + 0.5, color=colour, alpha=0.08, lw=0)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("classes, sorted by training images (frequent -> rare)")
    ax.set_ylabel("accumulated positive / negative gradient")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure_atomic(fig, output, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("inputs", nargs="+", help="gradient_stats.json files or OUTPUT_DIRs")
    p.add_argument("-o", "--output", default="gradient_ratio.png", help="PNG to write")
    p.add_argument("--labels", nargs="*", help="one per input (default: the loss and folder)")
    p.add_argument("--record", default="", help="plot only this record (module path or tag)")
    p.add_argument("--log", action="store_true", help="logarithmic ratio axis")
    p.add_argument("--title", default="gradient ratio per class")
    a = p.parse_args(argv)
    if a.labels and len(a.labels) != len(a.inputs):
        print(
            f"error: --labels: {len(a.labels)} labels for {len(a.inputs)} inputs", file=sys.stderr
        )
        return 2
    try:
        series = []
        for k, path in enumerate(a.inputs):
            data = load_stats(path)
            folder = os.path.basename(os.path.dirname(os.path.abspath(data["path"])))
            label = a.labels[k] if a.labels else f"{data.get('loss', '?')} ({folder})"
            series += curves(data, label, a.record)
        plot(series, a.output, a.log, a.title)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {a.output} ({len(series)} curves)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
