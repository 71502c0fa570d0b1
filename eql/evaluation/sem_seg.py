"""Semantic segmentation evaluation with the long-tail split: detectron2's SemSegEvaluator (mIoU,
per-class IoU, ...) plus the mean IoU over the rare, common and frequent classes."""

import math
from typing import Dict, List, Optional, Sequence

import numpy as np
from detectron2.data import MetadataCatalog
from detectron2.evaluation import SemSegEvaluator
from detectron2.utils.file_io import PathManager
from PIL import Image


def class_bins(metadata) -> Optional[List[str]]:
    """r/c/f of each class: the dataset's ``class_frequency``, else thirds of its
    ``class_image_count`` (rarest third "r"); None without either."""
    bins = list(getattr(metadata, "class_frequency", []) or [])
    if bins:
        return bins
    counts = list(getattr(metadata, "class_image_count", []) or [])
    if not counts:
        return None
    order = sorted(range(len(counts)), key=lambda c: counts[c])
    third = max(1, len(counts) // 3)
    out = ["f"] * len(counts)
    for j, c in enumerate(order):
        out[c] = "r" if j < third else "c" if j < 2 * third else "f"
    return out


def binned_miou(per_class_iou: Sequence[float], bins: Sequence[str]) -> Dict[str, float]:
    """{"mIoU-r", "mIoU-c", "mIoU-f"}: the mean of the classes' IoU (NaN: no pixel of the class in
    the ground truth, left out) in each bin present."""
    out = {}
    for b in ("r", "c", "f"):
        values = [v for v, k in zip(per_class_iou, bins) if k == b and not math.isnan(v)]
        if values:
            out[f"mIoU-{b}"] = sum(values) / len(values)
    return out


def load_label_map(path: str, dtype=int) -> np.ndarray:
    """A label PNG as an array (detectron2's loader asks numpy for copy=False, which numpy 2
    refuses for PIL images)."""
    with PathManager.open(path, "rb") as f:
        return np.asarray(Image.open(f), dtype=dtype)


class LongTailSemSegEvaluator(SemSegEvaluator):
    """SemSegEvaluator whose results add mIoU-r / mIoU-c / mIoU-f (see :func:`class_bins`)."""

    def __init__(self, dataset_name, distributed=True, output_dir=None, **kwargs):
        kwargs.setdefault("sem_seg_loading_fn", load_label_map)
        super().__init__(dataset_name, distributed, output_dir, **kwargs)

    def evaluate(self):
        results = super().evaluate()
        if not results or "sem_seg" not in results:
            return results
        bins = class_bins(MetadataCatalog.get(self._dataset_name))
        res = results["sem_seg"]
        if bins and len(bins) == len(self._class_names):
            ious = [res[f"IoU-{name}"] for name in self._class_names]
            res.update(binned_miou(ious, bins))
            self._logger.info(
                "mIoU by training frequency: "
                + ", ".join(f"{k} {v:.2f}" for k, v in res.items() if k.startswith("mIoU-"))
            )
        return results
