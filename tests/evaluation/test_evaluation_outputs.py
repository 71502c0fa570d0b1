"""The evaluator's columnar detections, its results file and its background writer: values equal
the per-detection dicts eql wrote before, the file is byte for byte json.dump's, errors surface
and leave no partial file, and two gloo processes give the metrics of one."""

import json
import os

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from common import run_gloo
from detectron2.structures import Boxes, Instances

from eql.evaluation import Detections
from eql.evaluation.output_writer import RESULTS_FILE, EvaluationOutputs
from eql.evaluation.reports import CSV_FILE, PNG_FILE
from eql.evaluation.results_file import write_lvis_results


def old_instances_to_lvis_json(instances, image_id, contiguous_to_category_id):
    """eql's former writer, one dict per detection (the reference for the columns)."""
    n = len(instances)
    if n == 0:
        return []
    boxes = instances.pred_boxes.tensor.numpy().copy()
    boxes[:, 2:] -= boxes[:, :2]
    scores, classes = instances.scores.tolist(), instances.pred_classes.tolist()
    rles = areas = None
    if instances.has("pred_masks"):
        masks = np.asarray(instances.pred_masks, dtype=np.uint8)
        areas = masks.reshape(n, -1).sum(1).tolist()
        rles = [mask_util.encode(np.asfortranarray(m)) for m in masks]
        for rle in rles:
            rle["counts"] = rle["counts"].decode("utf-8")
    out = []
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
        out.append(r)
    return out


def random_instances(rng, n, h=48, w=64, masks=True):
    inst = Instances((h, w))
    xy = rng.uniform(0, 40, (n, 2))
    xy[::2] = np.round(xy[::2] * 8) / 8
    # quarter-pixel boxes put many values on the 2-decimal rounding's ties (x.125, x.375, ...)
    wh = np.round(rng.uniform(1, 30, (n, 2)) * 8) / 8
    inst.pred_boxes = Boxes(torch.tensor(np.concatenate([xy, xy + wh], 1), dtype=torch.float32))
    inst.scores = torch.tensor(rng.uniform(0, 1, n), dtype=torch.float32)
    inst.pred_classes = torch.tensor(rng.integers(0, 5, n))
    if masks:
        inst.pred_masks = torch.tensor(rng.random((n, h, w)) < 0.3)
    return inst


CATEGORY_IDS = np.array([3, 10, 11, 40, 1203])


@pytest.mark.parametrize("masks", [False, True])
def test_columns_equal_the_former_dicts(masks):
    rng = np.random.default_rng(0)
    parts, old, raw = [], [], []
    for image_id, n in [(7, 50), (9, 0), (12, 31), (13, 300)]:
        inst = random_instances(rng, n, masks=masks)
        raw += inst.pred_boxes.tensor.flatten().tolist()
        parts.append(Detections.from_instances(inst, image_id, CATEGORY_IDS))
        old += old_instances_to_lvis_json(inst, image_id, CATEGORY_IDS)
    dets = Detections.concatenate(parts)
    assert len(dets) == 381 and dets.has_masks == masks
    new = dets.to_dicts()
    assert new == old  # exact: ints, rounded floats, RLE strings, areas
    assert Detections.from_dicts(old).to_dicts() == old
    # the rounding's ties occur (x.125, x.375, ...: exactly half-way at 2 decimals)
    assert sum((v * 100) % 1 == 0.5 for v in raw) > 10


@pytest.mark.parametrize("masks", [False, True])
def test_results_file_is_json_dump_byte_for_byte(tmp_path, masks):
    rng = np.random.default_rng(1)
    dets = Detections.concatenate(
        [
            Detections.from_instances(random_instances(rng, 40, masks=masks), i, CATEGORY_IDS)
            for i in (1, 2)
        ]
    )
    if masks:  # the one RLE character json escapes
        dets.rle_counts[0] = dets.rle_counts[0] + "\\"
    path = tmp_path / "r.json"
    import eql.evaluation.results_file as results_file

    results_file.CHUNK_ROWS, old_chunk = 7, results_file.CHUNK_ROWS  # several chunks
    try:
        write_lvis_results(str(path), dets)
    finally:
        results_file.CHUNK_ROWS = old_chunk
    assert path.read_text() == json.dumps(dets.to_dicts(with_area=False))
    write_lvis_results(str(path), Detections.empty())
    assert path.read_text() == "[]"


def test_results_file_writes_non_finite_values_as_json_does(tmp_path):
    dets = Detections.from_dicts(
        [
            {
                "image_id": 1,
                "category_id": 2,
                "bbox": [float("nan"), 1.5, float("inf"), 2.0],
                "score": -float("inf"),
            }
        ]
    )
    write_lvis_results(str(tmp_path / "r.json"), dets)
    assert (tmp_path / "r.json").read_text() == json.dumps(dets.to_dicts(with_area=False))


def _metrics(categories):
    from eql.evaluation.lvis_engines import LVISMetrics

    ids = [c["id"] for c in categories]
    return {"bbox": LVISMetrics({"AP": 0.5}, ids, np.linspace(0, 1, len(ids)))}


CATEGORIES = [
    {"id": i, "name": f"c{i}", "frequency": "rcf"[i % 3], "image_count": 3 * i} for i in (1, 2, 3)
]


@pytest.mark.parametrize("background", [True, False])
def test_outputs_written_in_background_and_inline_alike(tmp_path, background):
    dets = Detections.from_instances(
        random_instances(np.random.default_rng(2), 20), 5, CATEGORY_IDS
    )
    with EvaluationOutputs(str(tmp_path), dets, reports=True, background=background) as out:
        assert out.background == background
        out.write_reports(CATEGORIES, _metrics(CATEGORIES))
    assert (tmp_path / RESULTS_FILE).read_text() == json.dumps(dets.to_dicts(with_area=False))
    rows = (tmp_path / CSV_FILE).read_text().splitlines()
    assert rows[0].startswith("category_id,name,frequency,image_count,AP_bbox")
    assert rows[2] == "2,c2,f,6,50.0000"
    assert (tmp_path / PNG_FILE).read_bytes()[:4] == b"\x89PNG"
    assert sorted(os.listdir(tmp_path)) == sorted([RESULTS_FILE, CSV_FILE, PNG_FILE])


def test_writer_error_is_raised_and_leaves_no_file(tmp_path):
    """A directory where the results file should go: the writer fails, finish() says so, nothing
    partial is left; an error in the caller still lets the writer end (no reports)."""
    (tmp_path / RESULTS_FILE).mkdir()
    with pytest.raises(
        RuntimeError, match="writing the evaluation files in .* failed: .*Directory"
    ):
        with EvaluationOutputs(str(tmp_path), Detections.empty(), reports=True) as out:
            out.write_reports(CATEGORIES, _metrics(CATEGORIES))
    assert sorted(os.listdir(tmp_path)) == [RESULTS_FILE]
    good = tmp_path / "good"
    with pytest.raises(KeyError):
        with EvaluationOutputs(str(good), Detections.empty(), reports=True):
            raise KeyError("engine failed")
    assert sorted(os.listdir(good)) == [RESULTS_FILE]


def _gloo_evaluate(rank, world_size, val_json, image_root, out_dir):
    from common import gt_as_predictions

    from eql.data import register_lvis_format_dataset
    from eql.evaluation import LVISEvaluator

    register_lvis_format_dataset("gloo_val", val_json, image_root)
    from detectron2.data import DatasetCatalog

    records = DatasetCatalog.get("gloo_val")
    evaluator = LVISEvaluator("gloo_val", distributed=True, output_dir=out_dir)
    evaluator.reset()
    rng = np.random.default_rng(rank)
    for record in records[rank::world_size]:
        evaluator.process(
            [{"image_id": record["image_id"]}],
            [{"instances": gt_as_predictions(record, jitter=3.0, rng=rng)}],
        )
    res = evaluator.evaluate()
    if rank == 0:
        with open(os.path.join(out_dir, "metrics.json"), "w") as f:
            json.dump(res, f)
    else:
        assert res == {}


def test_two_gloo_processes_give_the_metrics_of_one(tiny_synthetic, tmp_path):
    """Each process evaluates half of the images; rank 0 gathers the columns and gets the metrics
    and the results file of one process given the same detections."""
    run_gloo(
        _gloo_evaluate,
        2,
        tmp_path,
        tiny_synthetic["val"],
        tiny_synthetic["val_images"],
        str(tmp_path),
    )
    two = json.loads((tmp_path / "metrics.json").read_text())
    written = json.loads((tmp_path / RESULTS_FILE).read_text())

    from common import gt_as_predictions
    from detectron2.data import DatasetCatalog

    from eql.evaluation import LVISEvaluator

    records = DatasetCatalog.get("tiny_synthetic_val")
    one = LVISEvaluator("tiny_synthetic_val", distributed=False, output_dir=str(tmp_path / "one"))
    one.reset()
    rngs = [np.random.default_rng(r) for r in range(2)]
    for rank in range(2):
        for record in records[rank::2]:
            one.process(
                [{"image_id": record["image_id"]}],
                [{"instances": gt_as_predictions(record, jitter=3.0, rng=rngs[rank])}],
            )
    expected = one.evaluate()
    assert two == json.loads(json.dumps(expected)) and 0 < two["bbox"]["AP"] < 100
    assert sorted(map(json.dumps, written)) == sorted(
        map(json.dumps, json.loads((tmp_path / "one" / RESULTS_FILE).read_text()))
    )
