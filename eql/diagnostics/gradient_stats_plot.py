"""Reading gradient_stats.json files (:mod:`eql.diagnostics.gradient_stats`) and plotting each
class's positive / negative gradient ratio, classes sorted by training frequency (most frequent
first), one curve per run: the picture of the EQL and EQLv2 papers. Used by
tools/plot_gradient_stats.py, the long-tail benchmark and the demo."""

import os
from typing import Dict, List, Tuple

from ..errors import UserError
from ..utils.io import read_json, save_figure_atomic
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
