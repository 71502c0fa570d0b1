"""LVIS evaluation (bbox, segm) of a detectron2 model.

Predictions are kept as columns (:class:`Detections`: arrays, not one dict per detection),
gathered to the main process and evaluated in memory with a selectable engine (faster-coco-eval's
LVIS mode by default, lvis-api as the reference; both give lvis-api's metrics on every input,
:mod:`.lvis_inputs`). The results are also written as an LVIS results json (by a forked writer
while the metrics are computed, see :mod:`.output_writer`); for a json without annotations
(test-dev) that file is the output, ready to be submitted. Optional: per-category reports (CSV,
PNG) and AP^Fixed / AP^Pool (Dave et al. 2021).
"""

import contextlib
import functools
import json
import logging
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import numpy as np
from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm
from detectron2.utils.file_io import PathManager
from detectron2.utils.logger import create_small_table

from .detections import Detections
from .faster_lvis import faster_ground_truth
from .lvis_engines import ENGINES, LVISMetrics, evaluate_lvis, lvis_api_ground_truth
from .output_writer import RESULTS_FILE, EvaluationOutputs
from .pooled_ap import pooled_ap

logger = logging.getLogger(__name__)

__all__ = ["LVISEvaluator", "RESULTS_FILE"]


def metrics_in_percent(metrics: LVISMetrics) -> Dict[str, float]:
    return {k: v * 100 for k, v in metrics.summary.items()}


class LVISEvaluator(DatasetEvaluator):
    """Evaluates a registered LVIS-format dataset; writes the results json.

    Args:
        dataset_name: registered dataset with ``json_file`` in its metadata.
        tasks: ("bbox",) or ("bbox", "segm"); default: from the predictions.
        output_dir: where ``lvis_instances_results.json`` and the reports go.
        max_dets_per_image: LVIS's cap (top scores across classes); 300 in LVIS's protocol.
        engine: "faster_coco_eval" or "lvis_api".
        ap_fixed: also compute AP^Fixed and AP^Pool on the detections capped per class at
            ``dets_per_class`` over the dataset, with no per-image cap (the model must then keep
            more than 300 detections per image: TEST.DETECTIONS_PER_IMAGE -1).
        reports: write per-category AP (CSV) and AP against class frequency (PNG).
        background_writes: write the files in a forked process while the metrics are computed
            (:class:`EvaluationOutputs`; inline where fork is unavailable).
    """

    def __init__(
        self,
        dataset_name: str,
        tasks: Optional[Sequence[str]] = None,
        distributed: bool = True,
        output_dir: Optional[str] = None,
        max_dets_per_image: int = 300,
        engine: str = "faster_coco_eval",
        ap_fixed: bool = False,
        dets_per_class: int = 10000,
        reports: bool = True,
        background_writes: bool = True,
    ):
        if engine not in ENGINES:
            raise ValueError(f"unknown LVIS evaluation engine {engine!r}; choose one of {ENGINES}")
        self._dataset_name = dataset_name
        self._tasks = tuple(tasks) if tasks else None
        self._distributed = distributed
        self._output_dir = output_dir
        self._max_dets = max_dets_per_image
        self._engine = engine
        self._ap_fixed = ap_fixed
        self._dets_per_class = dets_per_class
        self._reports = reports
        self._background_writes = background_writes
        meta = MetadataCatalog.get(dataset_name)
        if not hasattr(meta, "json_file"):
            raise KeyError(f"dataset '{dataset_name}' has no 'json_file' in its metadata")
        self._json_file = PathManager.get_local_path(meta.json_file)
        self._metadata = meta

    def reset(self):
        self._predictions = []

    @functools.cached_property
    def _contiguous_to_category_id(self) -> np.ndarray:
        """json category id of each contiguous class (read from the metadata, which the dataset's
        loader fills, on the first processed batch)."""
        id_map = getattr(self._metadata, "thing_dataset_id_to_contiguous_id", None)
        if id_map is None:  # detectron2's LVIS loader: json id = contiguous id + 1
            return np.arange(1, len(self._metadata.thing_classes) + 1, dtype=np.int64)
        inverse = {v: k for k, v in id_map.items()}
        return np.array([inverse[j] for j in range(len(inverse))], np.int64)

    def process(self, inputs, outputs):
        to_id = self._contiguous_to_category_id
        for inp, out in zip(inputs, outputs):
            if "instances" in out:  # moved to the CPU column by column
                self._predictions.append(
                    Detections.from_instances(out["instances"], inp["image_id"], to_id)
                )

    def evaluate(self):
        dets = Detections.concatenate(self._predictions)
        if self._distributed:
            comm.synchronize()
            parts = comm.gather(dets, dst=0)
            # every rank waits until the gather is complete: a rank that left at once could tear
            # its process group down under a send still in flight (gloo then aborts the process)
            comm.synchronize()
            if not comm.is_main_process():
                return {}
            dets = Detections.concatenate(parts)
        fixed = dets.cap_per_class(self._dets_per_class) if self._ap_fixed else None
        outputs = None
        if self._output_dir:
            outputs = EvaluationOutputs(
                self._output_dir,
                fixed if fixed is not None else dets.cap_per_image(self._max_dets),
                reports=self._reports,
                background=self._background_writes,
            )
        with outputs or contextlib.nullcontext():
            return self._evaluate(dets, fixed, outputs)

    def _evaluate(self, dets: Detections, fixed: Optional[Detections], outputs) -> Dict:
        with open(self._json_file) as f:
            gt_dataset = json.load(f)
        if "annotations" not in gt_dataset:
            logger.info(f"{self._json_file} has no annotations: results written, not evaluated")
            return {}
        tasks = self._tasks or (("bbox", "segm") if dets.has_masks else ("bbox",))
        gt = self._ground_truth(gt_dataset)
        out = OrderedDict()
        per_category = {}
        for task in tasks:
            metrics = evaluate_lvis(gt, dets, task, self._engine, self._max_dets)
            out[task] = metrics_in_percent(metrics)
            per_category[task] = metrics
            if fixed is not None:
                out[task].update(self._fixed_and_pooled(gt, fixed, task))
            logger.info(
                f"Evaluation results for {task} ({self._engine}):\n" + create_small_table(out[task])
            )
        if outputs is not None:
            outputs.write_reports(gt_dataset["categories"], per_category)
        return out

    def _ground_truth(self, gt_dataset):
        """The engine's ground-truth object, built once per evaluation (every task, AP^Fixed and
        AP^Pool use it)."""
        if self._engine == "faster_coco_eval":
            return faster_ground_truth(gt_dataset)
        return lvis_api_ground_truth(self._json_file)

    def _fixed_and_pooled(self, gt, fixed, task) -> Dict[str, float]:
        """AP^Fixed (and its r/c/f split) and AP^Pool of the per-class-capped detections, in %."""
        m = evaluate_lvis(gt, fixed, task, self._engine, max_dets_per_image=-1).summary
        out = {f"{k}^Fixed": m[k] * 100 for k in ("AP", "APr", "APc", "APf")}
        out["AP^Pool"] = pooled_ap(gt, fixed, task, self._engine) * 100
        return out
