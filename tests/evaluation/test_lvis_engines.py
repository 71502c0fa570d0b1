"""LVIS evaluation engines: parity with lvis-api, caps, AP^Fixed and AP^Pool by hand, reports."""

import csv
import json

import numpy as np
import pytest

from eql.benchmark.synthetic_detections import generate_detections
from eql.data import generate_synthetic_lvis
from eql.evaluation import Detections, evaluate_lvis, pooled_ap
from eql.evaluation.reports import CSV_FILE, PNG_FILE, write_category_reports

METRICS = [
    "AP",
    "AP50",
    "AP75",
    "APs",
    "APm",
    "APl",
    "APr",
    "APc",
    "APf",
    "AR@300",
    "ARs@300",
    "ARm@300",
    "ARl@300",
]


@pytest.fixture(scope="module")
def eval_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalset")
    paths = generate_synthetic_lvis(
        str(root),
        60,
        40,
        num_classes=30,
        image_size=160,
        seed=11,
        progress=False,
        write_images=False,
    )
    with open(paths["val"]) as f:
        gt = json.load(f)
    assert any(img["neg_category_ids"] for img in gt["images"])
    assert any(img["not_exhaustive_category_ids"] for img in gt["images"])
    return paths["val"], gt


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_faster_coco_eval_matches_lvis_api(eval_set, seed, iou_type):
    path, gt = eval_set
    # 320 per image: the 300 cap across classes matters
    dets = generate_detections(gt, 320, seed=seed, with_masks=iou_type == "segm")
    ref = evaluate_lvis(path, dets, iou_type, "lvis_api")
    fast = evaluate_lvis(path, dets, iou_type, "faster_coco_eval")
    assert sorted(ref.summary) == sorted(METRICS) == sorted(fast.summary)
    for k in METRICS:
        assert fast.summary[k] == pytest.approx(ref.summary[k], abs=1e-6), k
    assert ref.category_ids == fast.category_ids
    np.testing.assert_allclose(fast.category_ap, ref.category_ap, atol=1e-6)
    assert 0.05 < ref.summary["AP"] < 0.95


def test_per_image_cap_keeps_top_scores_across_classes():
    box = [0, 0, 1, 1]
    dets = [
        {"image_id": 1, "category_id": c, "score": s, "bbox": box}
        for c, s in [(1, 0.5), (2, 0.9), (3, 0.1), (1, 0.7)]
    ] + [{"image_id": 2, "category_id": 1, "score": 0.01, "bbox": box}]
    dets = Detections.from_dicts(dets)
    kept = dets.cap_per_image(2).to_dicts()
    assert [(d["image_id"], d["score"]) for d in kept] == [(1, 0.9), (1, 0.7), (2, 0.01)]
    assert len(dets.cap_per_image(-1)) == 5


def test_caps_break_ties_like_lvis_api():
    """Equal scores: the earlier detection is kept (lvis-api's stable sort), rows stay in order."""
    rows = [
        {"image_id": 3, "category_id": c, "score": 0.5, "bbox": [0, 0, 1, 1]} for c in (4, 5, 6)
    ]
    rows.insert(1, {"image_id": 3, "category_id": 7, "score": 0.6, "bbox": [0, 0, 1, 1]})
    dets = Detections.from_dicts(rows)
    assert dets.cap_per_image(2).category_id.tolist() == [4, 7]
    assert dets.cap_per_image(3).category_id.tolist() == [4, 7, 5]
    same_class = Detections.from_dicts([{**r, "category_id": 1} for r in rows])
    assert same_class.cap_per_class(2).score.tolist() == [0.5, 0.6]


def test_per_class_cap_over_the_dataset():
    dets = [
        {"image_id": i, "category_id": 1 + i % 2, "score": i / 10, "bbox": [0, 0, 1, 1]}
        for i in range(6)
    ]
    kept = Detections.from_dicts(dets).cap_per_class(2).to_dicts()
    # class 1 has 0, .2, .4 and class 2 .1, .3, .5: the two best of each, in the input order
    assert [(d["category_id"], d["score"]) for d in kept] == [
        (1, 0.2),
        (2, 0.3),
        (1, 0.4),
        (2, 0.5),
    ]


def _hand_case(tmp_path):
    """Two images, classes 1 (frequent) and 2 (rare). Image 1: one object of each; image 2: one
    object of class 1. Detections: image 1: class 1 TP (0.9), class 1 FP (0.8), class 2 TP (0.1);
    image 2: class 1 TP (0.95)."""
    box = lambda x, y: [x, y, 10, 10]  # noqa: E731
    gt = {
        "images": [
            {
                "id": i,
                "height": 100,
                "width": 100,
                "neg_category_ids": [],
                "not_exhaustive_category_ids": [],
                "file_name": f"{i}.png",
            }
            for i in (1, 2)
        ],
        "categories": [
            {"id": 1, "name": "a", "frequency": "f", "image_count": 500},
            {"id": 2, "name": "b", "frequency": "r", "image_count": 3},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": box(0, 0), "area": 100},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": box(20, 20), "area": 100},
            {"id": 3, "image_id": 2, "category_id": 1, "bbox": box(0, 0), "area": 100},
        ],
    }
    path = tmp_path / "hand.json"
    path.write_text(json.dumps(gt))
    dets = [
        {"image_id": 1, "category_id": 1, "bbox": box(0, 0), "score": 0.9},
        {"image_id": 1, "category_id": 1, "bbox": box(50, 50), "score": 0.8},
        {"image_id": 1, "category_id": 2, "bbox": box(20, 20), "score": 0.1},
        {"image_id": 2, "category_id": 1, "bbox": box(0, 0), "score": 0.95},
    ]
    return str(path), dets


@pytest.mark.parametrize("engine", ["lvis_api", "faster_coco_eval"])
def test_ap_fixed_by_hand(tmp_path, engine):
    path, dets = _hand_case(tmp_path)
    # a cap of 2 per image drops the rare class's only detection: AP = (1 + 0) / 2
    capped = evaluate_lvis(path, dets, "bbox", engine, max_dets_per_image=2).summary
    assert capped["AP"] == pytest.approx(0.5)
    assert capped["APr"] == pytest.approx(0.0) and capped["APf"] == pytest.approx(1.0)
    # AP^Fixed: no per-image cap, 10,000 per class: both classes are perfect
    fixed = Detections.from_dicts(dets).cap_per_class(10000)
    assert evaluate_lvis(path, fixed, "bbox", engine, max_dets_per_image=-1).summary[
        "AP"
    ] == pytest.approx(1.0)
    # one detection per class: class 1 keeps its 0.95 TP only, recall 1/2 -> AP 51/101
    one = Detections.from_dicts(dets).cap_per_class(1)
    assert evaluate_lvis(path, one, "bbox", engine, max_dets_per_image=-1).summary[
        "AP"
    ] == pytest.approx((51 / 101 + 1) / 2)


@pytest.mark.parametrize("engine", ["lvis_api", "faster_coco_eval"])
def test_ap_pool_by_hand(tmp_path, engine):
    path, dets = _hand_case(tmp_path)
    # pooled ranking: .95 TP, .9 TP, .8 FP, .1 TP over 3 objects -> precision 1 up to recall 2/3,
    # then 3/4: 67 of the 101 recall points at 1, 34 at 0.75
    assert pooled_ap(path, dets, "bbox", engine) == pytest.approx((67 + 34 * 0.75) / 101)
    # a well-calibrated rare detection (score above the false positive) pools perfectly
    dets[2]["score"] = 0.85
    assert pooled_ap(path, dets, "bbox", engine) == pytest.approx(1.0)


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_ap_pool_engines_agree(eval_set, iou_type):
    """The pooled-dataset route (C++) equals pooling lvis-api's own matches, with negative and
    not-exhaustive classes, over many classes and images."""
    path, gt = eval_set
    dets = generate_detections(gt, 40, seed=5, with_masks=iou_type == "segm")
    ref = pooled_ap(path, dets, iou_type, "lvis_api")
    fast = pooled_ap(path, dets, iou_type, "faster_coco_eval")
    assert 0.05 < ref < 0.95
    assert fast == pytest.approx(ref, abs=1e-6)


def test_reports_written(tmp_path, eval_set):
    path, gt = eval_set
    dets = generate_detections(gt, 50, seed=3)
    metrics = {"bbox": evaluate_lvis(path, dets, "bbox")}
    out = write_category_reports(gt["categories"], metrics, str(tmp_path))
    rows = list(csv.DictReader(open(tmp_path / CSV_FILE)))
    assert len(rows) == len(gt["categories"])
    by_id = {c["id"]: c for c in gt["categories"]}
    for row, ap in zip(rows, metrics["bbox"].category_ap):
        cat = by_id[int(row["category_id"])]
        assert (
            row["frequency"] == cat["frequency"] and int(row["image_count"]) == cat["image_count"]
        )
        assert (row["AP_bbox"] == "") == bool(np.isnan(ap))
        if row["AP_bbox"]:
            assert float(row["AP_bbox"]) == pytest.approx(100 * ap, abs=1e-4)
    png = (tmp_path / PNG_FILE).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert out["png"].endswith(PNG_FILE)
