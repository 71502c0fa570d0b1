"""Aggregating the final metrics of several training runs (losses x seeds): mean ± std per loss and
the paired difference to a baseline loss, seed by seed, with a 95% interval.

A run is an OUTPUT_DIR of ``tools/train_net.py``: its final evaluation is the last line of
``metrics.json`` holding ``<task>/AP``; its loss and seed come from the ``config.yaml`` detectron2
writes there (label: ``MODEL.EQL.LOSS``, with ``_rfs`` for the repeat-factor sampler, ``_fed``
for the federated loss, ``_official`` for a run started from its loss's official recipe where
that differs from the long-tail benchmark's protocol (EQLv2's zero biases); ``softmax_ce`` for
detectron2's own R-CNN predictor, ``sigmoid_ce_d2`` for its sigmoid one) unless the caller names
the label.

The paired interval is mean(d) ± t(0.975, n - 1) · sd(d) / sqrt(n) over the seeds both losses
ran, d = metric(loss) - metric(baseline): a difference whose interval excludes 0 is beyond the
run-to-run noise of that many seeds.

A metric LVIS leaves undefined (-1, written -100 in percent: e.g. APr of a val set without rare
classes; NaN from an older evaluation) is left out of the means and differences, and counted
(``Row.undefined``): averaging -100 in would be a meaningless number.
"""

import math
import os
from dataclasses import dataclass
from typing import Dict, List, Sequence

from ..errors import UserError
from ..utils.io import read_json_lines
from .long_tail_variants import Variant, format_label, is_official_start

METRICS = ("AP", "APr", "APc", "APf")
# R-CNN heads whose box predictor is detectron2's (softmax CE, or its sigmoid CE / federated loss)
D2_ROI_HEADS = ("StandardROIHeads", "CascadeROIHeads")
# two-sided 95% quantiles of Student's t, degrees of freedom 1..30
T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


class RunError(UserError):
    """A run folder cannot be summarised; the message names the file."""


@dataclass
class Run:
    label: str
    seed: int
    metrics: Dict[str, float]  # "bbox/APr" -> value (%)
    path: str


def t_quantile_975(dof: int) -> float:
    """t(0.975, dof): exact table to 30, then the values at 40 / 60 / 120 / infinity."""
    if dof < 1:
        return math.nan
    if dof <= 30:
        return T_975[dof - 1]
    return 2.021 if dof <= 40 else 2.000 if dof <= 60 else 1.980 if dof <= 120 else 1.960


def final_metrics(output_dir: str, task: str = "bbox") -> Dict[str, float]:
    """The metrics of the last evaluation in ``<output_dir>/metrics.json``."""
    path = os.path.join(output_dir, "metrics.json")
    if not os.path.isfile(path):
        raise RunError(f"{path}: not found (not a training OUTPUT_DIR, or it never logged)")
    last = None
    for _, record in read_json_lines(path, RunError):
        if isinstance(record, dict) and f"{task}/AP" in record:
            last = record
    if last is None:
        raise RunError(f"{path}: no evaluation with '{task}/AP' (did the run evaluate?)")
    return {k: float(v) for k, v in last.items() if k.startswith(f"{task}/")}


def run_label_and_seed(output_dir: str):
    """(label, seed) from the run's config.yaml."""
    import yaml

    path = os.path.join(output_dir, "config.yaml")
    if not os.path.isfile(path):
        raise RunError(f"{path}: not found (name the run's loss as LABEL=DIR)")
    try:
        with open(path) as f:
            cfg = yaml.safe_load(f)
        loss = cfg["MODEL"]["EQL"]["LOSS"]
        rcnn = "RCNN" in cfg["MODEL"].get("META_ARCHITECTURE", "")
        if rcnn and cfg["MODEL"].get("ROI_HEADS", {}).get("NAME") in D2_ROI_HEADS:
            # detectron2's own predictor: MODEL.EQL.LOSS is not used
            sigmoid = cfg["MODEL"]["ROI_BOX_HEAD"].get("USE_SIGMOID_CE", False)
            loss = "sigmoid_ce_d2" if sigmoid else "softmax_ce"
        seed = int(cfg["SEED"])
        rfs = cfg["DATALOADER"]["SAMPLER_TRAIN"] == "RepeatFactorTrainingSampler"
        fed = bool(cfg["MODEL"]["ROI_BOX_HEAD"].get("USE_FED_LOSS", False))
        official = is_official_start(loss, lambda key: _dotted(cfg, key))
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as e:
        raise RunError(f"{path}: cannot read MODEL.EQL.LOSS / SEED ({e})") from None
    return format_label(Variant(loss, rfs, fed, official)), seed


def _dotted(cfg: Dict, key: str):
    """The value of a dotted key in a loaded config.yaml; None when it has no such key."""
    for part in key.split("."):
        if not isinstance(cfg, dict) or part not in cfg:
            return None
        cfg = cfg[part]
    return cfg


def load_run(spec: str, task: str = "bbox") -> Run:
    """A run from ``DIR`` or ``LABEL=DIR``."""
    label, sep, path = spec.partition("=")
    if not sep:
        label, path = "", spec
    found_label, seed = run_label_and_seed(path)
    return Run(label or found_label, seed, final_metrics(path, task), path)


@dataclass
class Row:
    label: str
    n: int
    mean: Dict[str, float]
    std: Dict[str, float]
    diff: Dict[str, float]  # paired mean difference to the baseline
    half_width: Dict[str, float]  # its 95% interval: diff ± half_width
    pairs: int
    undefined: Dict[str, int]  # runs whose metric LVIS left undefined (left out)

    def interval(self, metric: str):
        return (
            self.diff[metric] - self.half_width[metric],
            self.diff[metric] + self.half_width[metric],
        )


def defined(value: float) -> bool:
    """Whether an AP (%) is defined: LVIS writes -1 (-100 in %) for "no ground truth"."""
    return math.isfinite(value) and value >= 0


def _mean_std(values: Sequence[float]):
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
    return mean, std


def summarize(
    runs: Sequence[Run],
    baseline: str = "sigmoid_ce",
    task: str = "bbox",
    metrics: Sequence[str] = METRICS,
) -> List[Row]:
    """One Row per label (in order of first appearance). Seeds repeated within a label are an
    error (a run given twice)."""
    by_label: Dict[str, Dict[int, Run]] = {}
    for r in runs:
        seeds = by_label.setdefault(r.label, {})
        if r.seed in seeds:
            raise RunError(f"{r.path} and {seeds[r.seed].path}: both are '{r.label}' seed {r.seed}")
        for m in metrics:
            if f"{task}/{m}" not in r.metrics:
                raise RunError(f"{r.path}: its last evaluation has no '{task}/{m}'")
        seeds[r.seed] = r
    base = by_label.get(baseline)
    rows = []
    for label, seeds in by_label.items():
        mean, std, diff, half, undefined = {}, {}, {}, {}, {}
        common = sorted(set(seeds) & set(base)) if base else []
        for m in metrics:
            key = f"{task}/{m}"
            values = [r.metrics[key] for r in seeds.values()]
            undefined[m] = sum(not defined(v) for v in values)
            mean[m], std[m] = _mean_std([v for v in values if defined(v)])
            both = [s for s in common if defined(seeds[s].metrics[key])]
            both = [s for s in both if defined(base[s].metrics[key])]
            d = [seeds[s].metrics[key] - base[s].metrics[key] for s in both]
            diff[m], sd = _mean_std(d)
            half[m] = t_quantile_975(len(d) - 1) * sd / math.sqrt(len(d)) if d else math.nan
        rows.append(Row(label, len(seeds), mean, std, diff, half, len(common), undefined))
    return rows
