"""Reading gradient_stats.json files (:mod:`eql.diagnostics.gradient_stats`) and plotting each
class's positive / negative gradient ratio, classes sorted by training frequency (most frequent
first), one curve per run: the picture of the EQL and EQLv2 papers. Used by
tools/plot_gradient_stats.py, the long-tail benchmark and the demo."""

import math
import os
from typing import Dict, List, Tuple

from ..errors import UserError
from ..utils.io import read_json, read_json_lines, save_figure_atomic
from .gradient_stats import FILE_NAME, FORMAT, record_tag

BIN_COLOURS = {"r": "#d62728", "c": "#ff7f0e", "f": "#2ca02c"}
Curve = Tuple[str, List[float], List[str]]  # label, ratios by decreasing frequency, their bins


class GradientStatsError(UserError):
    """A bad gradient statistics file; the message names it."""


def load_stats(path: str) -> Dict:
    """A gradient_stats.json, from its path or its OUTPUT_DIR, checked."""

    if os.path.isdir(path):
        path = os.path.join(path, FILE_NAME)
    if not os.path.isfile(path):
        raise GradientStatsError(
            f"{path}: not found (train with MODEL.EQL.GRADIENT_STATS.PERIOD > 0)"
        )
    data = read_json(path, GradientStatsError)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise GradientStatsError(
            f"{path}: not a gradient statistics file (field 'format' != {FORMAT!r})"
        )
    if not data.get("records"):
        raise GradientStatsError(f"{path}: field 'records' is empty")
    data["path"] = path
    return data


def curves(data: Dict, label: str, record: str = "") -> List[Curve]:
    """(label, ratios sorted by decreasing training frequency, their bins) for each record of a
    loaded file (only ``record``, a module path or its tag, when given)."""

    classes = data.get("classes") or {}
    out = []
    for path, rec in sorted(data["records"].items()):
        if record and record not in (path, record_tag(path)):
            continue
        ratio = rec["ratio"]
        counts = classes.get("image_count") or [0] * len(ratio)
        bins = classes.get("frequency") or [""] * len(ratio)
        if len(counts) != len(ratio):
            raise GradientStatsError(
                f"{data['path']}: {len(counts)} classes but {len(ratio)} ratios"
            )
        order = sorted(range(len(ratio)), key=lambda j: (-counts[j], j))
        name = label if len(data["records"]) == 1 or record else f"{label} {record_tag(path)}"
        out.append((name, [ratio[j] for j in order], [bins[j] for j in order]))
    if not out:
        raise GradientStatsError(f"{data['path']}: no record named {record!r}")
    return out


def plot_ratio_curves(series: List[Curve], output: str, log: bool = False, title: str = "") -> None:
    """One line per curve; the first curve's frequency bins shaded (rare red, common orange,
    frequent green). Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, ratio, _ in series:
        ax.plot(range(len(ratio)), ratio, linewidth=1.2, label=name)
    bins = series[0][2]
    for b, colour in BIN_COLOURS.items():
        idx = [i for i, x in enumerate(bins) if x == b]
        if idx:
            ax.axvspan(min(idx) - 0.5, max(idx) + 0.5, color=colour, alpha=0.08, lw=0)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("classes, sorted by training images (frequent -> rare)")
    ax.set_ylabel("accumulated positive / negative gradient")
    ax.set_title(title or "gradient ratio per class")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure_atomic(fig, output, dpi=110)
    plt.close(fig)


# {record tag: {bin: [(iteration, mean ratio of the bin's classes)]}}
History = Dict[str, Dict[str, List[Tuple[int, float]]]]
HISTORY_KEY = "gradient_ratio/"


def ratio_history(run_dir: str) -> History:
    """The rare / common / frequent mean gradient ratios over a run's iterations, from the
    ``gradient_ratio/<record>/{r,c,f}`` values its gradient hook wrote to ``metrics.json`` (every
    MODEL.EQL.GRADIENT_STATS.PERIOD). A resumed run's repeated iterations: the later line wins.
    Empty when the run recorded none."""
    path = os.path.join(run_dir, "metrics.json")
    if not os.path.isfile(path):
        raise GradientStatsError(f"{path}: not found (not a training OUTPUT_DIR)")
    found: Dict[str, Dict[str, Dict[int, float]]] = {}
    for k, record in read_json_lines(path, GradientStatsError):
        if not isinstance(record, dict):
            raise GradientStatsError(f"{path}: line {k} is not a json object")
        for key, value in record.items():
            if not key.startswith(HISTORY_KEY):
                continue
            tag, _, b = key[len(HISTORY_KEY) :].rpartition("/")
            it = record.get("iteration")
            if b not in BIN_COLOURS or not tag:
                raise GradientStatsError(
                    f"{path}: line {k}: '{key}' is not {HISTORY_KEY}<record>/{{r,c,f}}"
                )
            if not isinstance(it, int):
                raise GradientStatsError(f"{path}: line {k}: '{key}' without its iteration")
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise GradientStatsError(f"{path}: line {k}: '{key}' is {value!r}")
            found.setdefault(tag, {}).setdefault(b, {})[it] = float(value)
    return {t: {b: sorted(v.items()) for b, v in bins.items()} for t, bins in found.items()}


def mean_history(histories: List[History]) -> History:
    """The mean over runs (seeds) at the iterations every run has."""
    if not histories:
        return {}
    out: History = {}
    for tag, bins in histories[0].items():
        for b in bins:
            series = [dict(h.get(tag, {}).get(b, [])) for h in histories]
            common = sorted(set.intersection(*(set(s) for s in series)))
            out.setdefault(tag, {})[b] = [
                (it, sum(s[it] for s in series) / len(series)) for it in common
            ]
    return out


def plot_ratio_history(
    panels: List[List[Tuple[str, History]]], output: str, title: str = ""
) -> None:
    """A grid of panels (rows of (title, history)): in each, the rare / common / frequent mean
    ratio over iterations (one line per bin and record), and the ratio 1. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if all(len(r) == 1 for r in panels):  # one column: laid out as one row
        panels = [[r[0] for r in panels]]
    rows, cols = len(panels), max(len(r) for r in panels)
    fig, axes = plt.subplots(
        rows, cols, figsize=(max(7.0, 3.6 * cols), 2.8 * rows + 0.4), squeeze=False, sharey=True
    )
    names = {"r": "rare", "c": "common", "f": "frequent"}
    for i, row in enumerate(panels):
        for j in range(cols):
            ax = axes[i][j]
            if j >= len(row):
                ax.axis("off")
                continue
            name, history = row[j]
            for tag, bins in sorted(history.items()):
                for b, points in sorted(
                    bins.items(), key=lambda kv: list(BIN_COLOURS).index(kv[0])
                ):
                    label = names[b] + ("" if len(history) == 1 else f" {tag}")
                    xs, ys = [p[0] + 1 for p in points], [p[1] for p in points]
                    ax.plot(xs, ys, color=BIN_COLOURS[b], linewidth=1.3, label=label)
            ax.axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
            ax.set_title(name, fontsize=9)
            ax.set_xlabel("iteration", fontsize=8)
            ax.grid(alpha=0.3)
            if j == 0:
                ax.set_ylabel("mean pos / neg gradient", fontsize=8)
            if history and i == 0 and j == 0:
                ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure_atomic(fig, output, dpi=100)
    plt.close(fig)
