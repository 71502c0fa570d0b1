import json

import numpy as np
import pytest
import torch
from common import gt_as_predictions, scale_category_ids
from detectron2.data import DatasetCatalog
from detectron2.structures import Boxes, Instances

from eql.data import register_lvis_format_dataset
from eql.evaluation import LVISEvaluator


def _renumbered(tmp_path, path, drop_annotations=False):
    """The json with category ids x10 (so contiguous id != json id - 1)."""
    with open(path) as f:
        data = scale_category_ids(json.load(f))
    if drop_annotations:
        del data["annotations"]
    out = tmp_path / ("test_dev.json" if drop_annotations else "val_x10.json")
    out.write_text(json.dumps(data))
    return str(out)


def _evaluate(name, out_dir, jitter=0.0):
    evaluator = LVISEvaluator(name, distributed=False, output_dir=str(out_dir))
    evaluator.reset()
    rng = np.random.default_rng(0)
    for record in DatasetCatalog.get(name):
        evaluator.process(
            [{"image_id": record["image_id"]}],
            [{"instances": gt_as_predictions(record, jitter, rng)}],
        )
    return evaluator.evaluate()


def test_ground_truth_scores_100_with_json_ids(tiny_synthetic, tmp_path):
    path = _renumbered(tmp_path, tiny_synthetic["val"])
    register_lvis_format_dataset("tiny_val_x10", path, tiny_synthetic["val_images"])
    res = _evaluate("tiny_val_x10", tmp_path / "eval")
    for task in ("bbox", "segm"):
        assert res[task]["AP"] == pytest.approx(100.0)
        assert res[task]["AP50"] == pytest.approx(100.0)
    written = json.loads((tmp_path / "eval" / "lvis_instances_results.json").read_text())
    assert {r["category_id"] for r in written} <= {10 * j for j in range(1, 25)}
    with open(path) as f:
        assert len(written) == len(json.load(f)["annotations"])
    assert "float" not in np.__dict__  # lvis-api's np.float alias is removed afterwards


def test_imperfect_predictions_score_lower(tiny_synthetic, tmp_path):
    res = _evaluate("tiny_synthetic_val", tmp_path, jitter=4.0)
    assert 0 < res["bbox"]["AP"] < 100
    assert res["bbox"]["AP50"] > res["bbox"]["AP75"]


def test_test_dev_writes_results_instead_of_metrics(tiny_synthetic, tmp_path):
    path = _renumbered(tmp_path, tiny_synthetic["val"], drop_annotations=True)
    register_lvis_format_dataset("tiny_test_dev_x10", path, tiny_synthetic["val_images"])
    # no ground truth in the records: predict one box per image
    evaluator = LVISEvaluator("tiny_test_dev_x10", distributed=False, output_dir=str(tmp_path))
    evaluator.reset()
    records = DatasetCatalog.get("tiny_test_dev_x10")
    for record in records:
        inst = Instances((128, 128))
        inst.pred_boxes = Boxes(torch.tensor([[10.0, 20.0, 50.0, 60.0]]))
        inst.pred_classes = torch.tensor([3])
        inst.scores = torch.tensor([0.5])
        evaluator.process([{"image_id": record["image_id"]}], [{"instances": inst}])
    assert evaluator.evaluate() == {}
    written = json.loads((tmp_path / "lvis_instances_results.json").read_text())
    assert len(written) == len(records)
    assert written[0]["category_id"] == 40 and written[0]["bbox"] == [10.0, 20.0, 40.0, 40.0]


def test_ap_fixed_and_pool_in_the_evaluator(tiny_synthetic, tmp_path):
    evaluator = LVISEvaluator(
        "tiny_synthetic_val",
        distributed=False,
        output_dir=str(tmp_path),
        ap_fixed=True,
        dets_per_class=10000,
    )
    evaluator.reset()
    for record in DatasetCatalog.get("tiny_synthetic_val"):
        evaluator.process(
            [{"image_id": record["image_id"]}], [{"instances": gt_as_predictions(record)}]
        )
    res = evaluator.evaluate()
    for task in ("bbox", "segm"):
        assert res[task]["AP^Fixed"] == pytest.approx(100.0)
        assert res[task]["AP^Pool"] == pytest.approx(100.0)
        assert {"APr^Fixed", "APc^Fixed", "APf^Fixed"} <= set(res[task])


def test_train_net_ap_fixed_keeps_all_detections_per_image(tmp_path):
    from common import INSTANT_CONFIG, load_script

    train_net = load_script("tools/train_net.py")
    args = train_net.parse_args(
        ["--config-file", INSTANT_CONFIG, "TEST.LVIS.AP_FIXED", "True", "OUTPUT_DIR", str(tmp_path)]
    )
    cfg = train_net.setup(args, train_net.read_config(args))
    assert cfg.TEST.DETECTIONS_PER_IMAGE == -1
