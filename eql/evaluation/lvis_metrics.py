"""LVIS metrics: the container both engines return and LVIS's summary of a precision / recall
array (lvis-api's ``LVISEval.summarize``: means over the entries > -1; -1 where there are none)."""

from dataclasses import dataclass
from typing import Dict, List, Sequence, Union

import numpy as np

from .detections import Detections

SUMMARY_METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf")
LVIS_MAX_DETS_PER_IMAGE = 300
AREA_LABELS = ("all", "small", "medium", "large")
FREQUENCY_LABELS = ("r", "c", "f")
Results = Union[Detections, Sequence[Dict]]  # columns or LVIS result dicts


@dataclass
class LVISMetrics:
    """summary: metric name -> value in [0, 1] (AP..., AR@k, ARs@k, ARm@k, ARl@k);
    category_ids (K,) and category_ap (K,) with NaN for categories without ground truth."""

    summary: Dict[str, float]
    category_ids: List[int]
    category_ap: np.ndarray


def category_ap(precision: np.ndarray) -> np.ndarray:
    """(K,) AP from a precision array (T, R, K, A[, M]) at area 'all' (and the last max-dets)."""
    p = precision[:, :, :, 0] if precision.ndim == 4 else precision[:, :, :, 0, -1]
    valid = p > -1
    count = valid.sum(axis=(0, 1))
    total = np.where(valid, p, 0.0).sum(axis=(0, 1))
    out = np.full(p.shape[2], np.nan)
    out[count > 0] = total[count > 0] / count[count > 0]
    return out


def _mean_valid(s: np.ndarray) -> float:
    valid = s[s > -1]
    return float(np.mean(valid)) if valid.size else -1.0


def lvis_summary(
    precision: np.ndarray,
    recall: np.ndarray,
    iou_thresholds: np.ndarray,
    frequencies: Sequence[str],
    max_dets_label: int,
) -> Dict[str, float]:
    """The 13 LVIS summary metrics from ``precision`` (T, R, K, 4) and ``recall`` (T, K, 4) with
    areas in AREA_LABELS order and ``frequencies`` ('r' / 'c' / 'f') of the K categories."""
    out = {"AP": _mean_valid(precision[..., 0])}
    for name, thr in (("AP50", 0.5), ("AP75", 0.75)):
        out[name] = _mean_valid(precision[np.isclose(iou_thresholds, thr)][..., 0])
    for a, label in enumerate(AREA_LABELS[1:], 1):
        out[f"AP{label[0]}"] = _mean_valid(precision[..., a])
    frequencies = np.asarray(frequencies)
    for f in FREQUENCY_LABELS:
        out[f"AP{f}"] = _mean_valid(precision[:, :, frequencies == f, 0])
    out[f"AR@{max_dets_label}"] = _mean_valid(recall[..., 0])
    for a, label in enumerate(AREA_LABELS[1:], 1):
        out[f"AR{label[0]}@{max_dets_label}"] = _mean_valid(recall[..., a])
    return out
