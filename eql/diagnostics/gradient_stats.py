"""Gradient diagnostics (the EQL paper's Fig. 1, the EQLv2 / journal gradient-ratio figures): each
class's accumulated positive and negative gradient magnitude of the classification loss, and
their ratio, recorded by the loss (``ClassificationLoss.record_gradients``) and written by a
training hook.

``OUTPUT_DIR/gradient_stats.json`` (rewritten every period)::

    {"format": "eql-gradient-stats/1", "iteration": 999, "loss": "eqlv2",
     "classes": {"category_ids": [...], "image_count": [...], "frequency": ["r", "c", "f", ...]},
     "records": {"roi_heads.box_predictor.cls_loss": {"pos": [...], "neg": [...],
                                                      "ratio": [...]}}}

``classes`` is null when the training set's statistics are not available. The event storage
(metrics.json, TensorBoard) gets ``gradient_ratio/<record>/{r,c,f}``: the mean ratio over the
rare, common and frequent classes.
"""

import logging
import os
from typing import Dict, Optional

import torch
from detectron2.engine import HookBase
from detectron2.utils import comm

from ..data.category_stats import CategoryStats
from ..losses import ClassificationLoss
from ..modeling.heads import model_num_classes
from ..modeling.losses import training_category_stats
from ..utils.io import write_json_atomic

logger = logging.getLogger(__name__)

FILE_NAME = "gradient_stats.json"
FORMAT = "eql-gradient-stats/1"
BINS = ("r", "c", "f")


def gradient_records(model: torch.nn.Module) -> Dict[str, ClassificationLoss]:
    """The losses of ``model`` (unwrapped from DDP) that record gradients, by module path."""
    model = getattr(model, "module", model)
    return {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, ClassificationLoss) and m.gradient_record is not None
    }


def record_tag(path: str) -> str:
    """A short name for a loss's module path: 'roi_heads.box_predictor.0' for
    'roi_heads.box_predictor.0.cls_loss', 'head' for RetinaNet's 'cls_loss'."""
    tag = path[: -len(".cls_loss")] if path.endswith(".cls_loss") else path
    return "head" if tag == "cls_loss" else tag


def gradient_report(
    model: torch.nn.Module, iteration: int, loss_name: str, classes: Optional[CategoryStats]
) -> Dict:
    """The content of gradient_stats.json for the current state of ``model``'s records."""
    records = {}
    for path, loss in gradient_records(model).items():
        r = loss.gradient_record
        records[path] = {
            "pos": r.pos.tolist(),
            "neg": r.neg.tolist(),
            "ratio": r.ratio().tolist(),
        }
    info = None
    if classes is not None:
        info = {
            "category_ids": list(classes.category_ids),
            "image_count": list(classes.image_count),
            "frequency": list(classes.frequency),
        }
    return {
        "format": FORMAT,
        "iteration": iteration,
        "loss": loss_name,
        "classes": info,
        "records": records,
    }


def bin_means(ratio, frequency) -> Dict[str, float]:
    """Mean of ``ratio`` over the classes of each frequency bin present."""
    out = {}
    for b in BINS:
        values = [x for x, f in zip(ratio, frequency) if f == b]
        if values:
            out[b] = sum(values) / len(values)
    return out


class GradientStatsHook(HookBase):
    """Every ``period`` iterations and after the last one: the r/c/f means of each record's
    gradient ratio to the event storage, and the per-class values to
    ``OUTPUT_DIR/gradient_stats.json`` (main process; the records are already summed over
    processes)."""

    def __init__(self, period: int, output_dir: str, loss_name: str, classes=None):
        self._period = period
        self._path = os.path.join(output_dir, FILE_NAME)
        self._loss_name = loss_name
        self._classes = classes

    def before_train(self):
        if not gradient_records(self.trainer.model):
            raise ValueError(
                "MODEL.EQL.GRADIENT_STATS.PERIOD > 0, but the model has no eql classification "
                "loss that records gradients"
            )

    def after_step(self):
        it = self.trainer.iter + 1
        if it % self._period == 0 or it == self.trainer.max_iter:
            self.write(it - 1)

    def write(self, iteration: int) -> None:
        report = gradient_report(self.trainer.model, iteration, self._loss_name, self._classes)
        if report["classes"] is not None:
            storage = self.trainer.storage
            for path, rec in report["records"].items():
                means = bin_means(rec["ratio"], report["classes"]["frequency"])
                for b, v in means.items():
                    storage.put_scalar(
                        f"gradient_ratio/{record_tag(path)}/{b}", v, smoothing_hint=False
                    )
        if comm.is_main_process():
            write_json_atomic(self._path, report)


def build_gradient_stats_hook(cfg) -> Optional[GradientStatsHook]:
    """The hook of MODEL.EQL.GRADIENT_STATS (None when PERIOD is 0), with the training set's
    class statistics when they can be had."""
    period = cfg.MODEL.EQL.GRADIENT_STATS.PERIOD
    if period <= 0:
        return None
    try:
        classes = training_category_stats(cfg, model_num_classes(cfg))
    except (ValueError, OSError, KeyError) as e:
        logger.warning(f"Gradient statistics without class frequencies: {e}")
        classes = None
    return GradientStatsHook(period, cfg.OUTPUT_DIR, cfg.MODEL.EQL.LOSS, classes)
