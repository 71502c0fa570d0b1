"""The long-tail benchmark across schedule lengths (``benchmarks/long_tail.py --schedule 1 2 4``):
one table of every loss's metrics and paired differences per schedule, and the picture of the
rare / common / frequent mean gradient ratio over iterations (per loss and schedule, mean over
seeds) from the runs' recorded statistics."""

import os
from typing import List, Sequence, Tuple

from ..diagnostics.gradient_stats_plot import mean_history, plot_ratio_history, ratio_history
from ..utils.io import atomic_write
from .long_tail_sweep import is_complete
from .run_summary import METRICS, Row
from .run_summary_report import CLAIM, row_cells

HISTORY_PICTURE = "gradient_ratio_over_iterations.png"


def schedule_name(multiple: int) -> str:
    return f"{multiple}x"


def trend_table(
    by_schedule: Sequence[Tuple[int, int, List[Row]]], baseline: str, metrics=METRICS
) -> str:
    """Markdown: per schedule (multiple, iterations, rows) and loss, the mean ± std of each metric,
    the paired differences of APr / APc / APf to ``baseline`` with 95% intervals, the claim."""
    deltas = [m for m in ("APr", "APc", "APf") if m in metrics]
    head = ["schedule", "loss", "seeds"] + list(metrics)
    head += [f"Δ{m} [95%]" for m in deltas] + [CLAIM]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for multiple, iterations, rows in by_schedule:
        for k, r in enumerate(rows):
            where = f"{schedule_name(multiple)} ({iterations} it)" if k == 0 else ""
            cells = [where] + row_cells(r, baseline, metrics, deltas)
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_trend(
    output_dir: str, by_schedule: Sequence[Tuple[int, int, List[Row]]], baseline: str
) -> str:
    """trend.md in ``output_dir`` (each schedule's folder has its summary.csv); returns it."""
    table = trend_table(by_schedule, baseline)
    with atomic_write(os.path.join(output_dir, "trend.md")) as f:
        f.write(table)
    return table


def history_panels(sweeps, labels: Sequence[str]) -> List[List[Tuple[str, dict]]]:
    """One row of panels per label that recorded gradients, one panel per sweep (schedule): the
    mean over the label's finished seeds of their ratio histories."""
    panels = []
    for label in labels:
        row = []
        for sweep in sweeps:
            runs = [sweep.run_dir(label, s) for s in sweep.seeds]
            runs = [r for r in runs if is_complete(r)]
            histories = [h for h in (ratio_history(r) for r in runs) if h]
            if histories:
                n = len(histories)
                name = f"{label}, {schedule_name(sweep.schedule)}, {n} seed{'s' * (n > 1)}"
                row.append((name, mean_history(histories)))
        if row:
            panels.append(row)
    return panels


def write_history_picture(sweeps, labels: Sequence[str], path: str) -> str:
    """The ratio-over-iterations picture of the sweeps' sigmoid losses; '' when none recorded."""
    panels = history_panels(sweeps, labels)
    if not panels:
        return ""
    title = "mean positive / negative gradient ratio of rare / common / frequent classes"
    plot_ratio_history(panels, path, title=title)
    return path
