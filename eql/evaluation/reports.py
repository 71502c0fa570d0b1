"""Per-category reports of an LVIS evaluation: AP per category (CSV) and AP against the class's
training image count (PNG)."""

import csv
import logging
import math
import os
from typing import Dict, List

from ..utils.io import atomic_write, save_figure_atomic

logger = logging.getLogger(__name__)

CSV_FILE = "lvis_per_category_ap.csv"
PNG_FILE = "lvis_ap_vs_frequency.png"
BIN_COLOURS = {"r": "tab:red", "c": "tab:orange", "f": "tab:blue"}


def write_category_reports(
    categories: List[Dict], per_task: Dict, output_dir: str
) -> Dict[str, str]:
    """Writes CSV_FILE (category_id, name, frequency, image_count, AP per task in %, empty where a
    category has no ground truth) and PNG_FILE into ``output_dir``. ``categories``: the ground
    truth json's "categories"; ``per_task``: task -> LVISMetrics. image_count and frequency are the
    categories' json fields (LVIS: training images and r/c/f bin). Returns the written paths."""
    cats = {c["id"]: c for c in categories}
    tasks = list(per_task)
    rows = []
    first = per_task[tasks[0]]
    for k, cat_id in enumerate(first.category_ids):
        cat = cats[cat_id]
        row = {
            "category_id": cat_id,
            "name": cat.get("name", ""),
            "frequency": cat.get("frequency", ""),
            "image_count": cat.get("image_count", ""),
        }
        for task in tasks:
            ap = per_task[task].category_ap[k]
            row[f"AP_{task}"] = "" if math.isnan(ap) else f"{100 * ap:.4f}"
        rows.append(row)
    os.makedirs(output_dir, exist_ok=True)
    csv_path = os.path.join(output_dir, CSV_FILE)
    with atomic_write(csv_path, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    png_path = os.path.join(output_dir, PNG_FILE)
    _plot(rows, tasks, png_path)
    logger.info(f"Per-category AP written to {csv_path} and {png_path}")
    return {"csv": csv_path, "png": png_path}


def _plot(rows, tasks, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.5), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for b, colour in BIN_COLOURS.items():
            pts = [
                (float(r["image_count"]), float(r[f"AP_{task}"]))
                for r in rows
                if r["frequency"] == b and r[f"AP_{task}"] != "" and r["image_count"] != ""
            ]
            if pts:
                xs, ys = zip(*pts)
                ax.scatter([max(x, 1) for x in xs], ys, s=10, c=colour, label=f"{b} ({len(pts)})")
        ax.set_xscale("log")
        ax.set_xlabel("training images of the class")
        ax.set_ylabel("AP (%)")
        ax.set_title(f"{task}: AP per category")
        ax.legend(title="frequency")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure_atomic(fig, path, dpi=100)
    plt.close(fig)
