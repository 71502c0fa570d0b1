"""LVIS evaluation (bbox, segm) of a detectron2 model, working on numpy 2.

Results are written as an LVIS results json; for a json without annotations (test-dev) that
file is the output, ready to be submitted.
"""

import contextlib
import copy
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

logger = logging.getLogger(__name__)

LVIS_METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf")
RESULTS_FILE = "lvis_instances_results.json"


@contextlib.contextmanager
def numpy_float_alias():
    """lvis-api 0.5.3 calls ``np.float``, removed in numpy 1.24; alias it while lvis-api runs."""
    added = "float" not in np.__dict__
    if added:
        np.float = float  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if added:
            del np.float


def instances_to_lvis_json(
    instances, image_id: int, contiguous_to_category_id: Sequence[int]
) -> List[Dict]:
    """LVIS result dicts of one image's predicted ``Instances`` (boxes in XYWH, 1-based or json
    category ids, masks as RLE with a str ``counts``)."""
    n = len(instances)
    if n == 0:
        return []
    boxes = instances.pred_boxes.tensor.numpy().copy()
    boxes[:, 2:] -= boxes[:, :2]
    scores = instances.scores.tolist()
    classes = instances.pred_classes.tolist()
    rles = None
    if instances.has("pred_masks"):
        masks = np.asarray(instances.pred_masks, dtype=np.uint8, order="F")
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
        results.append(r)
    return results


def evaluate_lvis_results(
    gt_json: str, results: List[Dict], iou_type: str, max_dets_per_image: int = 300
) -> Dict[str, float]:
    """lvis-api's metrics (in %, as detectron2 reports them) of ``results`` on ``gt_json``."""
    with numpy_float_alias():
        from lvis import LVIS, LVISEval, LVISResults

        if not results:
            logger.warning("No predictions: every metric is NaN")
            return {m: float("nan") for m in LVIS_METRICS}
        if iou_type == "segm":
            # segm areas (small/medium/large) come from the masks, not the boxes
            results = copy.deepcopy(results)
            for r in results:
                r.pop("bbox", None)
        gt = LVIS(gt_json) if isinstance(gt_json, str) else gt_json
        dt = LVISResults(gt, results, max_dets=max_dets_per_image)
        lvis_eval = LVISEval(gt, dt, iou_type)
        lvis_eval.run()
        lvis_eval.print_results()
        stats = lvis_eval.get_results()
    return {m: float(stats[m] * 100) for m in LVIS_METRICS}


class LVISEvaluator(DatasetEvaluator):
    """Evaluates a registered LVIS-format dataset with lvis-api; writes the results json.

    Args:
        dataset_name: registered dataset with ``json_file`` in its metadata.
        tasks: ("bbox",) or ("bbox", "segm"); default: from the predictions.
        output_dir: where ``lvis_instances_results.json`` goes.
        max_dets_per_image: LVIS's cap of detections per image (top scores across classes).
    """

    def __init__(
        self,
        dataset_name: str,
        tasks: Optional[Sequence[str]] = None,
        distributed: bool = True,
        output_dir: Optional[str] = None,
        max_dets_per_image: int = 300,
    ):
        self._dataset_name = dataset_name
        self._tasks = tuple(tasks) if tasks else None
        self._distributed = distributed
        self._output_dir = output_dir
        self._max_dets = max_dets_per_image
        meta = MetadataCatalog.get(dataset_name)
        if not hasattr(meta, "json_file"):
            raise KeyError(f"dataset '{dataset_name}' has no 'json_file' in its metadata")
        self._json_file = PathManager.get_local_path(meta.json_file)
        self._metadata = meta
        self._cpu = torch.device("cpu")

    def reset(self):
        self._predictions = []

    def _contiguous_to_category_id(self) -> List[int]:
        id_map = getattr(self._metadata, "thing_dataset_id_to_contiguous_id", None)
        if id_map is None:  # detectron2's LVIS loader: json id = contiguous id + 1
            return list(range(1, len(self._metadata.thing_classes) + 1))
        inverse = {v: k for k, v in id_map.items()}
        return [inverse[j] for j in range(len(inverse))]

    def process(self, inputs, outputs):
        to_id = self._contiguous_to_category_id()
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
        self._write_results(results)
        with open(self._json_file) as f:
            has_annotations = "annotations" in json.load(f)
        if not has_annotations:
            logger.info(f"{self._json_file} has no annotations: results written, not evaluated")
            return {}
        tasks = self._tasks or (
            ("bbox", "segm") if any("segmentation" in r for r in results) else ("bbox",)
        )
        metrics = OrderedDict()
        for task in tasks:
            metrics[task] = evaluate_lvis_results(self._json_file, results, task, self._max_dets)
            logger.info(f"Evaluation results for {task}:\n" + create_small_table(metrics[task]))
        return metrics

    def _write_results(self, results: List[Dict]) -> None:
        if not self._output_dir:
            return
        PathManager.mkdirs(self._output_dir)
        path = os.path.join(self._output_dir, RESULTS_FILE)
        tmp = path + ".tmp"
        with PathManager.open(tmp, "w") as f:
            json.dump(results, f)
        os.replace(tmp, path)
        logger.info(f"Wrote {len(results)} LVIS results to {path}")
