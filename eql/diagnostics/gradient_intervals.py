"""The positive / negative gradient ratio of a run interval by interval, from its checkpoints.

The ratio a run logs (``gradient_ratio/<record>/{r,c,f}`` in metrics.json, and what EQLv2 weighs
by) is cumulative from the first step: in a short run its first iterations dominate it. Every
checkpoint of a run trained with ``MODEL.EQL.GRADIENT_STATS.PERIOD > 0`` holds the accumulated
magnitudes (``<loss>.gradient_record.pos`` / ``.neg``, one value per class); the difference
between two checkpoints is what the iterations between them added. :func:`interval_ratios` gives,
per record and interval, the mean over each frequency bin's classes of the interval's positive /
negative ratio (the first interval's equals the logged value at its end) and the interval's
share of the run's negative gradient. Used by tools/gradient_intervals.py."""

import math
import os
import re
from dataclasses import dataclass
from typing import Dict, List, Tuple

from ..errors import UserError
from .gradient_stats import BINS, bin_means, record_tag
from .gradient_stats_plot import load_stats

CHECKPOINT = re.compile(r"^model_(\d+)\.pth$")  # detectron2's periodic checkpoints
POS, NEG = ".gradient_record.pos", ".gradient_record.neg"


class GradientIntervalsError(UserError):
    """A run folder whose checkpoints cannot be read this way; the message names the file."""


@dataclass
class Interval:
    record: str  # the loss's tag, e.g. roi_heads.box_predictor
    first: int  # first iteration of the interval
    last: int  # the checkpoint's iteration
    ratio: Dict[str, float]  # bin ("r", "c", "f") -> mean ratio of its classes (NaN: none)
    share: float  # the interval's part of the run's accumulated negative gradient


def checkpoints(run_dir: str) -> List[Tuple[int, str]]:
    """(iteration, path) of the run's periodic checkpoints, in order (model_final.pth, a copy of
    the last one, is left out)."""
    found = []
    for name in os.listdir(run_dir):
        match = CHECKPOINT.match(name)
        if match:
            found.append((int(match.group(1)), os.path.join(run_dir, name)))
    if not found:
        raise GradientIntervalsError(
            f"{run_dir}: no checkpoint model_<iteration>.pth (SOLVER.CHECKPOINT_PERIOD)"
        )
    return sorted(found)


def _records(path: str, num_classes: int) -> Dict[str, Tuple[list, list]]:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        model = state["model"]
    except Exception as e:  # noqa: BLE001  (any unreadable file: one error naming it)
        raise GradientIntervalsError(f"{path}: not a checkpoint ({type(e).__name__})") from None
    out = {}
    for key, pos in model.items():
        if key.endswith(POS) and key[: -len(POS)] + NEG in model:
            neg = model[key[: -len(POS)] + NEG]
            if pos.numel() != num_classes or neg.numel() != num_classes:
                raise GradientIntervalsError(
                    f"{path}: {key} has {pos.numel()} classes, gradient_stats.json {num_classes}"
                )
            out[key[: -len(POS)]] = (pos.double().tolist(), neg.double().tolist())
    if not out:
        raise GradientIntervalsError(
            f"{path}: no gradient record (train with MODEL.EQL.GRADIENT_STATS.PERIOD > 0)"
        )
    return out


def interval_ratios(run_dir: str) -> List[Interval]:
    """Per record and interval between consecutive checkpoints (the first from iteration 0), the
    mean positive / negative ratio of each frequency bin's classes (classes without a negative
    gradient in the interval left out) and the interval's share of the negative gradient."""
    if not os.path.isdir(run_dir):
        raise GradientIntervalsError(f"{run_dir}: not a folder (give a run's OUTPUT_DIR)")
    frequency = (load_stats(run_dir).get("classes") or {}).get("frequency")
    if not frequency:
        raise GradientIntervalsError(f"{run_dir}/gradient_stats.json: no class frequencies")
    by_checkpoint = [(it, _records(p, len(frequency))) for it, p in checkpoints(run_dir)]
    last_records = by_checkpoint[-1][1]
    out = []
    for module in sorted(last_records):
        total_neg = sum(last_records[module][1])
        before, first = ([0.0] * len(frequency), [0.0] * len(frequency)), 0
        for it, records in by_checkpoint:
            if module not in records:
                raise GradientIntervalsError(
                    f"{run_dir}: checkpoint of iteration {it} has no {module}"
                )
            pos, neg = records[module]
            d_pos = [a - b for a, b in zip(pos, before[0])]
            d_neg = [a - b for a, b in zip(neg, before[1])]
            kept = [(p / n, f) for p, n, f in zip(d_pos, d_neg, frequency) if n > 0]
            means = bin_means([r for r, _ in kept], [f for _, f in kept])
            ratio = {b: means.get(b, math.nan) for b in BINS}
            share = sum(d_neg) / total_neg if total_neg > 0 else math.nan
            out.append(Interval(record_tag(module), first, it, ratio, share))
            before, first = (pos, neg), it + 1
    return out


def interval_table(intervals: List[Interval]) -> str:
    """Markdown: record, iterations, the rare / common / frequent ratios, the share."""
    lines = [
        "| record | iterations | rare | common | frequent | share of the negative gradient |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for i in intervals:
        cells = ["—" if math.isnan(i.ratio[b]) else f"{i.ratio[b]:.2f}" for b in BINS]
        share = "—" if math.isnan(i.share) else f"{100 * i.share:.0f}%"
        lines.append(f"| {i.record} | {i.first}–{i.last} | {' | '.join(cells)} | {share} |")
    return "\n".join(lines) + "\n"
