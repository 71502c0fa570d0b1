"""Rendering a run summary (:mod:`eql.benchmark.run_summary`): Markdown table, CSV, PNG with error
bars."""

import csv
import math
from typing import List, Sequence

from ..utils.io import atomic_write, save_figure_atomic
from .run_summary import METRICS, Row


def mean_cell(mean: float, std: float, undefined: int = 0) -> str:
    if math.isnan(mean):
        text = "undefined"
    else:
        text = f"{mean:.2f}" if math.isnan(std) else f"{mean:.2f} ± {std:.2f}"
    return text + (f" ({undefined} undefined left out)" if undefined and text[0] != "u" else "")


def difference_cell(row: Row, m: str) -> str:
    if math.isnan(row.diff[m]):
        return "—"
    if math.isnan(row.half_width[m]):
        return f"{row.diff[m]:+.2f}"
    lo, hi = row.interval(m)
    return f"{row.diff[m]:+.2f} [{lo:+.2f}, {hi:+.2f}]"


# The papers' claim for a long-tail loss, as this project reads it against its baseline: rare
# classes up beyond the run-to-run noise, frequent classes not paying for it.
CLAIM = "claim: ΔAPr 95% > 0, ΔAPf ≥ −1"
APF_TOLERANCE = 1.0


def claim_verdict(row: Row, baseline: str) -> str:
    """Whether ``row`` shows the papers' claim against ``baseline``: 'holds', or 'no (...)' with
    the part that fails; '—' for the baseline and where there is no interval (one paired seed)."""
    if row.label == baseline or row.pairs < 2 or "APr" not in row.diff or "APf" not in row.diff:
        return "—"
    lo, _ = row.interval("APr")
    if any(math.isnan(x) for x in (lo, row.diff["APf"])):
        return "—"
    failed = []
    if lo <= 0:
        failed.append(f"APr interval reaches {lo:+.2f}")
    if row.diff["APf"] < -APF_TOLERANCE:
        failed.append(f"APf {row.diff['APf']:+.2f}")
    return "holds" if not failed else "no (" + "; ".join(failed) + ")"


def markdown_table(rows: List[Row], baseline: str, metrics: Sequence[str] = METRICS) -> str:
    """Per label: seeds, mean ± std of each metric (LVIS's undefined values left out and counted),
    the paired difference to ``baseline`` with its 95% interval, and whether the papers' claim
    holds (:func:`claim_verdict`)."""
    head = ["loss", "seeds"] + list(metrics) + [f"Δ{m} vs {baseline} [95%]" for m in metrics]
    lines = ["| " + " | ".join(head + [CLAIM]) + " |", "|" + " --- |" * (len(head) + 1)]
    for r in rows:
        lines.append("| " + " | ".join(row_cells(r, baseline, metrics, metrics)) + " |")
    return "\n".join(lines) + "\n"


def row_cells(r: Row, baseline: str, metrics: Sequence[str], deltas: Sequence[str]) -> List[str]:
    """A row's table cells: label, seeds, mean ± std of ``metrics``, the differences of
    ``deltas`` with their intervals, the claim's verdict."""
    cells = [r.label, str(r.n)] + [mean_cell(r.mean[m], r.std[m], r.undefined[m]) for m in metrics]
    return cells + [difference_cell(r, m) for m in deltas] + [claim_verdict(r, baseline)]


def write_csv(path: str, rows: List[Row], metrics: Sequence[str] = METRICS) -> None:
    fields = ["loss", "seeds", "paired_seeds"]
    for m in metrics:
        fields += [f"{m}_mean", f"{m}_std", f"{m}_diff", f"{m}_diff_low", f"{m}_diff_high"]
        fields += [f"{m}_undefined"]
    with atomic_write(path, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for r in rows:
            out = {"loss": r.label, "seeds": r.n, "paired_seeds": r.pairs}
            for m in metrics:
                lo, hi = r.interval(m)
                out.update(
                    {
                        f"{m}_mean": r.mean[m],
                        f"{m}_std": r.std[m],
                        f"{m}_diff": r.diff[m],
                        f"{m}_diff_low": lo,
                        f"{m}_diff_high": hi,
                        f"{m}_undefined": r.undefined[m],
                    }
                )
            writer.writerow(out)


def plot_summary(path: str, rows: List[Row], title: str = "") -> None:
    """APr / APc / APf per loss as bars with ± std error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = ("APr", "APc", "APf")
    width = 0.8 / max(1, len(rows))
    fig, ax = plt.subplots(figsize=(2.2 + 1.6 * len(groups), 4))
    for k, r in enumerate(rows):
        xs = [g + (k - (len(rows) - 1) / 2) * width for g in range(len(groups))]
        errs = [0.0 if math.isnan(r.std[m]) else r.std[m] for m in groups]
        ax.bar(
            xs,
            [0.0 if math.isnan(r.mean[m]) else r.mean[m] for m in groups],
            width,
            yerr=errs,
            capsize=3,
            label=f"{r.label} (n={r.n})",
        )
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.set_ylabel("AP (%)")
    ax.set_title(title or "mean ± std over seeds")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save_figure_atomic(fig, path)
    plt.close(fig)
