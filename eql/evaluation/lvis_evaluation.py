"""LVIS evaluation (bbox, segm) of a detectron2 model.

Predictions are evaluated in memory with a selectable engine (faster-coco-eval's LVIS mode by
default, lvis-api as the reference; same metrics to 1e-6). The results are also written as an
LVIS results json; for a json without annotations (test-dev) that file is the output, ready to be
submitted. Optional: per-category reports (CSV, PNG) and AP^Fixed / AP^Pool (Dave et al. 2021).
"""

import functools
import itertools
import json
import logging
import os
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
import pycocotools.mask as mask_util
import torch
from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm
from detectron2.utils.file_io import PathManager
from detectron2.utils.logger import create_small_table

from ..io_utils import write_json_atomic
from .lvis_engines import (
    ENGINES,
    LVISMetrics,
    cap_detections_per_class,
    cap_detections_per_image,
    evaluate_lvis,
    pooled_ap,
)
from .reports import write_category_reports

logger = logging.getLogger(__name__)

RESULTS_FILE = "lvis_instances_results.json"


def instances_to_lvis_json(
    instances, image_id: int, contiguous_to_category_id: Sequence[int]
) -> List[Dict]:
    """LVIS result dicts of one image's predicted ``Instances``: boxes in XYWH, json category
    ids, masks as RLE with a str ``counts`` and their pixel ``area``."""
    n = len(instances)
    if n == 0:
        return []
    boxes = instances.pred_boxes.tensor.numpy().copy()
    boxes[:, 2:] -= boxes[:, :2]
    scores = instances.scores.tolist()
    classes = instances.pred_classes.tolist()
    rles = areas = None
    if instances.has("pred_masks"):
        masks = np.asarray(instances.pred_masks, dtype=np.uint8)
        areas = masks.reshape(n, -1).sum(1).tolist()
        rles = [mask_util.encode(np.asfortranarray(m)) for m in masks]
        for rle in rles:
            rle["counts"] = rle["counts"].decode("utf-8")
    results = []
    for k in range(n):
        r = {
            "image_id": image_id,
            "category_id": int(contiguous_to_category_id[classes[k]]),
            "bbox": [round(float(v), 2) for v in boxes[k]],
            "score": float(scores[k]),
        }
        if rles is not None:
            r["segmentation"] = rles[k]
            r["area"] = float(areas[k])
        results.append(r)
    return results


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
        meta = MetadataCatalog.get(dataset_name)
        if not hasattr(meta, "json_file"):
            raise KeyError(f"dataset '{dataset_name}' has no 'json_file' in its metadata")
        self._json_file = PathManager.get_local_path(meta.json_file)
        self._metadata = meta
        self._cpu = torch.device("cpu")

    def reset(self):
        self._predictions = []

    @functools.cached_property
    def _contiguous_to_category_id(self) -> List[int]:
        """json category id of each contiguous class (read from the metadata, which the dataset's
        loader fills, on the first processed batch)."""
        id_map = getattr(self._metadata, "thing_dataset_id_to_contiguous_id", None)
        if id_map is None:  # detectron2's LVIS loader: json id = contiguous id + 1
            return list(range(1, len(self._metadata.thing_classes) + 1))
        inverse = {v: k for k, v in id_map.items()}
        return [inverse[j] for j in range(len(inverse))]

    def process(self, inputs, outputs):
        to_id = self._contiguous_to_category_id
        for inp, out in zip(inputs, outputs):
            pred = {"image_id": inp["image_id"]}
            if "instances" in out:
                pred["instances"] = instances_to_lvis_json(
                    out["instances"].to(self._cpu), inp["image_id"], to_id
                )
            self._predictions.append(pred)

    def evaluate(self):
        predictions = self._predictions
        if self._distributed:
            comm.synchronize()
            predictions = list(itertools.chain(*comm.gather(predictions, dst=0)))
            if not comm.is_main_process():
                return {}
        results = list(itertools.chain(*[p.get("instances", []) for p in predictions]))
        with open(self._json_file) as f:
            gt_dataset = json.load(f)
        fixed = cap_detections_per_class(results, self._dets_per_class) if self._ap_fixed else None
        self._write_results(
            fixed if fixed is not None else cap_detections_per_image(results, self._max_dets)
        )
        if "annotations" not in gt_dataset:
            logger.info(f"{self._json_file} has no annotations: results written, not evaluated")
            return {}
        tasks = self._tasks or (
            ("bbox", "segm") if any("segmentation" in r for r in results) else ("bbox",)
        )
        gt = self._ground_truth(gt_dataset)
        out = OrderedDict()
        per_category = {}
        for task in tasks:
            metrics = evaluate_lvis(gt, results, task, self._engine, self._max_dets)
            out[task] = metrics_in_percent(metrics)
            per_category[task] = metrics
            if fixed is not None:
                out[task].update(self._fixed_and_pooled(gt, fixed, task))
            logger.info(
                f"Evaluation results for {task} ({self._engine}):\n" + create_small_table(out[task])
            )
        if self._reports and self._output_dir and comm.is_main_process():
            write_category_reports(gt_dataset, per_category, self._output_dir)
        return out

    def _ground_truth(self, gt_dataset):
        """The engine's ground-truth object, built once per evaluation (every task, AP^Fixed and
        AP^Pool use it)."""
        if self._engine == "faster_coco_eval":
            from faster_coco_eval import COCO

            return COCO(gt_dataset)
        from lvis import LVIS  # its constructor only reads a path

        return LVIS(self._json_file)

    def _fixed_and_pooled(self, gt, fixed, task) -> Dict[str, float]:
        """AP^Fixed (and its r/c/f split) and AP^Pool of the per-class-capped detections, in %."""
        m = evaluate_lvis(gt, fixed, task, self._engine, max_dets_per_image=-1).summary
        out = {f"{k}^Fixed": m[k] * 100 for k in ("AP", "APr", "APc", "APf")}
        out["AP^Pool"] = pooled_ap(gt, fixed, task, self._engine) * 100
        return out

    def _write_results(self, results: List[Dict]) -> None:
        if not self._output_dir:
            return
        PathManager.mkdirs(self._output_dir)
        path = os.path.join(self._output_dir, RESULTS_FILE)
        # the LVIS challenge format: no "area" key
        rows = [{k: v for k, v in r.items() if k != "area"} for r in results]
        write_json_atomic(path, rows)
        logger.info(f"Wrote {len(rows)} LVIS results to {path}")
