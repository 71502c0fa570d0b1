"""The two LVIS engines give lvis-api's metrics on every input: a seeded property test over
adversarial cases (tests/evaluation/lvis_adversarial.py), lvis-api's rules checked by hand (results
of zero area, nothing to score, crowds, ignore flags), results that cannot be evaluated refused, and
the evaluator of a detectron2 model on Mask R-CNN's empty masks."""

import json
import math
from collections import Counter

import numpy as np
import pytest
from lvis_adversarial import adversarial_case

from eql.evaluation import evaluate_lvis, pooled_ap
from eql.evaluation.lvis_inputs import ResultsError

METRICS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf"]
RECALLS = ["AR@{}", "ARs@{}", "ARm@{}", "ARl@{}"]
NUM_CASES = 800
ENGINES = ("lvis_api", "faster_coco_eval")
# docs/robustness.md's rows -> the test of each (tests/robustness/test_robustness.py checks)
ROBUSTNESS_CASES = {
    "E01-results-of-zero-area": "test_results_of_zero_area_are_dropped_after_the_cap",
    "E02-nothing-to-score": "test_nothing_to_score_gives_zero",
    "E03-ground-truth-of-zero-area": "test_ground_truth_of_zero_area_is_not_evaluated",
    "E04-crowd-flag": "test_crowd_flag_means_nothing_in_lvis",
    "E05-ignore-flag": "test_ignore_flags_are_honoured",
    "E06-results-not-finite-or-unknown": "test_results_that_cannot_be_evaluated_are_refused",
    "E07-malformed-results": "test_malformed_results_are_refused_naming_the_result",
    "E08-mask-only-results-for-bbox": "test_mask_only_results_evaluate_segm_and_refuse_bbox",
    "E09-ground-truth-without-area-or-mask": (
        "test_ground_truth_that_lvis_evaluation_cannot_read_is_refused"
    ),
    "E10-images-without-federated-lists": "test_images_without_federated_lists_have_empty_ones",
    "E11-empty-masks-of-a-model": "test_segm_empty_masks_of_a_model_through_the_evaluator",
    "E12-adversarial-inputs": "test_engines_agree_with_lvis_api_on_adversarial_inputs",
    "E13-adversarial-inputs-pooled-ap": "test_pooled_ap_engines_agree_on_adversarial_inputs",
}


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9


def _features(case):
    """What makes a case adversarial (the test asserts that each is exercised)."""
    gt, res = case["gt"], case["results"]
    anns, out = gt["annotations"], set()
    evaluable = {(a["image_id"], a["category_id"]) for a in anns if a["area"] > 0}
    evaluable |= {(i["id"], c) for i in gt["images"] for c in i["neg_category_ids"]}
    per_image = Counter(r["image_id"] for r in res)
    checks = {
        "no results": not res,
        "nothing to score": bool(res)
        and not any((r["image_id"], r["category_id"]) in evaluable for r in res),
        "zero-area box": any(r["bbox"][2] * r["bbox"][3] == 0 for r in res),
        "out-of-image box": any(
            r["bbox"][0] < 0 or r["bbox"][0] + r["bbox"][2] > _width(gt, r["image_id"]) for r in res
        ),
        "empty mask": case["iou_type"] == "segm"
        and any(_mask_area(r["segmentation"]) == 0 for r in res),
        "tied scores": len({r["score"] for r in res}) < len(res),
        "over 300 an image": max(per_image.values(), default=0) > 300,
        "capped": case["max_dets"] >= 0 and max(per_image.values(), default=0) > case["max_dets"],
        "image without labels": any(
            not any(a["image_id"] == i["id"] for a in anns) for i in gt["images"]
        ),
        "category without ground truth": len({a["category_id"] for a in anns})
        < len(gt["categories"]),
        "ground truth of zero area": any(a["area"] == 0 for a in anns),
        "crowd": any(a.get("iscrowd") for a in anns),
        "ignore flag": any(a.get("ignore") for a in anns),
        "annotation id 0": any(a["id"] == 0 for a in anns),
        "not exhaustive": any(i["not_exhaustive_category_ids"] for i in gt["images"]),
        "negative": any(i["neg_category_ids"] for i in gt["images"]),
    }
    out = {k for k, v in checks.items() if v}
    out.add(f"{case['iou_type']}")
    return out


def _width(gt, image_id):
    return next(i["width"] for i in gt["images"] if i["id"] == image_id)


def _mask_area(seg):
    import pycocotools.mask as mask_util

    return int(mask_util.area({"size": seg["size"], "counts": seg["counts"].encode()}))


@pytest.fixture(scope="module")
def cases():
    return [adversarial_case(seed) for seed in range(NUM_CASES)]


def test_the_cases_reach_every_corner(cases):
    seen = Counter(f for c in cases for f in _features(c))
    for feature in [
        "no results",
        "nothing to score",
        "zero-area box",
        "out-of-image box",
        "empty mask",
        "tied scores",
        "over 300 an image",
        "capped",
        "image without labels",
        "category without ground truth",
        "ground truth of zero area",
        "crowd",
        "ignore flag",
        "annotation id 0",
        "not exhaustive",
        "negative",
        "bbox",
        "segm",
    ]:
        assert seen[feature] >= 5, (feature, seen)


def test_engines_agree_with_lvis_api_on_adversarial_inputs(cases):
    """The 13 metrics and the per-category AP of faster-coco-eval equal lvis-api's to 1e-9 on
    every case (NaN where lvis-api has none, -1 where it says -1)."""
    failures = []
    for seed, case in enumerate(cases):
        out = [
            evaluate_lvis(case["gt"], case["results"], case["iou_type"], e, case["max_dets"])
            for e in ENGINES
        ]
        label = case["max_dets"] if case["max_dets"] >= 0 else -1
        keys = METRICS + [k.format(label) for k in RECALLS]
        assert sorted(out[0].summary) == sorted(keys) == sorted(out[1].summary)
        bad = [k for k in keys if not _same(out[0].summary[k], out[1].summary[k])]
        ap = zip(out[0].category_ap.tolist(), out[1].category_ap.tolist())
        if bad or not all(_same(a, b) for a, b in ap):
            failures.append((seed, {k: (out[0].summary[k], out[1].summary[k]) for k in bad}))
        assert not any(math.isnan(v) for v in out[0].summary.values()), seed
    assert not failures, failures[:5]


def test_pooled_ap_engines_agree_on_adversarial_inputs(cases):
    """AP^Pool: the pooled-dataset route (C++) equals pooling lvis-api's matches, ties
    included."""
    for seed, case in enumerate(cases[:250]):
        ref, fast = (pooled_ap(case["gt"], case["results"], case["iou_type"], e) for e in ENGINES)
        assert _same(ref, fast), (seed, ref, fast)


# ---------------------------------------------------------------------------------------------
# lvis-api's rules, by hand


def _gt(*anns, neg=(), not_exhaustive=(), size=100):
    return {
        "images": [
            {
                "id": 1,
                "height": size,
                "width": size,
                "file_name": "1.jpg",
                "neg_category_ids": list(neg),
                "not_exhaustive_category_ids": list(not_exhaustive),
            }
        ],
        "categories": [
            {"id": 1, "name": "a", "frequency": "f"},
            {"id": 2, "name": "b", "frequency": "r"},
        ],
        "annotations": [
            {
                "id": k,
                "image_id": 1,
                "category_id": c,
                "bbox": b,
                "area": b[2] * b[3],
                "segmentation": [
                    [b[0], b[1], b[0] + b[2], b[1], b[0] + b[2], b[1] + b[3], b[0], b[1] + b[3]]
                ],
                **extra,
            }
            for k, (c, b, extra) in enumerate(anns, 1)
        ],
    }


def _det(box, score=0.9, cat=1):
    return {"image_id": 1, "category_id": cat, "bbox": box, "score": score}


@pytest.mark.parametrize("engine", ENGINES)
def test_results_of_zero_area_are_dropped_after_the_cap(engine):
    gt = _gt((1, [10, 10, 20, 20], {}))
    hit, empty = _det([10, 10, 20, 20], 0.5), _det([10, 10, 0, 20], 0.9)
    # the zero-width box scores higher: a false positive if counted; lvis-api drops it
    assert evaluate_lvis(gt, [empty, hit], "bbox", engine).summary["AP"] == pytest.approx(1.0)
    # ... but after the per-image cap, which it fills: the hit is cut
    assert evaluate_lvis(gt, [empty, hit], "bbox", engine, 1).summary["AP"] == 0.0


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("results", ["none", "unevaluated", "zero-area"])
def test_nothing_to_score_gives_zero(engine, results):
    """lvis-api's values: 0 for every metric with ground truth, -1 where there is none (no
    small or large object here), never NaN."""
    gt = _gt((1, [10, 10, 50, 50], {}))
    dets = {
        "none": [],
        "unevaluated": [_det([10, 10, 50, 50], cat=2)],  # class 2: not annotated, not negative
        "zero-area": [_det([10, 10, 50, 0])],
    }[results]
    m = evaluate_lvis(gt, dets, "bbox", engine).summary
    expected = {"AP": 0, "AP50": 0, "APm": 0, "APf": 0, "APr": -1, "APs": -1, "APl": -1}
    assert {k: m[k] for k in expected} == expected
    assert m["AR@300"] == 0 and m["ARs@300"] == -1
    assert pooled_ap(gt, dets, "bbox", engine) == 0.0


@pytest.mark.parametrize("engine", ENGINES)
def test_ground_truth_of_zero_area_is_not_evaluated(engine):
    """lvis-api drops it, and with it the pair it made evaluable: a detection of it is not a
    false positive, and class 2 has no ground truth (-1)."""
    gt = _gt((1, [10, 10, 20, 20], {}), (2, [50, 50, 20, 20], {"area": 0}))
    dets = [_det([10, 10, 20, 20]), _det([60, 60, 20, 20], 0.95, cat=2)]
    m = evaluate_lvis(gt, dets, "bbox", engine).summary
    assert m["AP"] == pytest.approx(1.0) and m["APr"] == -1


@pytest.mark.parametrize("engine", ENGINES)
def test_crowd_flag_means_nothing_in_lvis(engine):
    """A crowd object is a plain object to lvis-api: a detection covering a quarter of it is a
    false positive (as a COCO crowd region it would be ignored), and the object is missed."""
    gt = _gt((1, [0, 0, 40, 40], {"iscrowd": 1}))
    m = evaluate_lvis(gt, [_det([0, 0, 20, 20])], "bbox", engine).summary
    assert m["AP"] == 0.0 and m["AR@300"] == 0.0


@pytest.mark.parametrize("engine", ENGINES)
def test_ignore_flags_are_honoured(engine):
    """An ignored object needs no detection (recall 1 without it), and a detection of it is no
    false positive."""
    gt = _gt((1, [0, 0, 40, 40], {}), (1, [50, 50, 40, 40], {"ignore": 1}))
    one = evaluate_lvis(gt, [_det([0, 0, 40, 40])], "bbox", engine).summary
    assert one["AP"] == pytest.approx(1.0) and one["AR@300"] == 1.0
    dets = [_det([50, 50, 40, 40], 0.9), _det([0, 0, 40, 40], 0.5)]
    assert evaluate_lvis(gt, dets, "bbox", engine).summary["AP"] == pytest.approx(1.0)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "result, field",
    [
        (_det([1, 1, 5, 5], float("nan")), "'score' is not finite"),
        (_det([1, 1, float("inf"), 5]), "'bbox' has a non-finite value"),
        (_det([1, 1, -5, 5]), "'bbox' has a negative width or height"),
        ({**_det([1, 1, 5, 5]), "image_id": 7}, "'image_id' is not an image of the ground truth"),
        (_det([1, 1, 5, 5], cat=9), "'category_id' is not a category of the ground truth"),
    ],
)
def test_results_that_cannot_be_evaluated_are_refused(engine, result, field):
    gt = _gt((1, [10, 10, 20, 20], {}))
    with pytest.raises(ResultsError, match=r"results\[1\] field " + field.replace("'", "'")):
        evaluate_lvis(gt, [_det([10, 10, 20, 20]), result], "bbox", engine)


def test_lvis_api_engine_takes_every_ground_truth_form(tmp_path):
    from faster_coco_eval import COCO
    from lvis import LVIS

    gt = _gt((1, [10, 10, 20, 20], {}))
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    dets = [_det([10, 10, 20, 20])]
    for form in (str(path), gt, LVIS(str(path)), COCO(gt)):
        assert evaluate_lvis(form, dets, "bbox", "lvis_api").summary["AP"] == pytest.approx(1.0)


def test_segm_empty_masks_of_a_model_through_the_evaluator(tiny_synthetic):
    """LVISEvaluator with Mask R-CNN outputs some of whose masks are empty (a 28x28 mask under the
    threshold): both engines report lvis-api's metrics, for bbox and segm. Each object has a
    good detection (score 0.5) and a higher-scoring duplicate whose mask is empty: lvis-api does
    not evaluate the empty ones (area 0), so segm AP is near 100; counted, each would be a false
    positive ranked first."""
    import pycocotools.mask as mask_util
    import torch
    from detectron2.data import DatasetCatalog
    from detectron2.structures import Boxes, Instances

    from eql.evaluation import LVISEvaluator

    name = tiny_synthetic["names"][1]
    inputs, outputs = [], []
    for record in DatasetCatalog.get(name):  # the loader also fills the metadata's class mapping
        h, w = record["height"], record["width"]
        anns = record["annotations"]
        boxes = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]  # XYWH -> XYXY
        inst = Instances((h, w))
        inst.pred_boxes = Boxes(torch.cat([boxes, boxes]))
        inst.scores = torch.tensor([0.5] * len(anns) + [0.9] * len(anns))
        inst.pred_classes = torch.tensor([a["category_id"] for a in anns] * 2)
        masks = torch.zeros(2 * len(anns), h, w, dtype=torch.bool)
        for k, a in enumerate(anns):
            rle = mask_util.merge(mask_util.frPyObjects(a["segmentation"], h, w))
            masks[k] = torch.from_numpy(mask_util.decode(rle).astype(bool))
        inst.pred_masks = masks
        inputs.append({"image_id": record["image_id"]})
        outputs.append({"instances": inst})
    results = {}
    for engine in ENGINES:
        ev = LVISEvaluator(name, output_dir=None, engine=engine, distributed=False)
        ev.reset()
        ev.process(inputs, outputs)
        results[engine] = ev.evaluate()
    for task in ("bbox", "segm"):
        ref, fast = results["lvis_api"][task], results["faster_coco_eval"][task]
        assert sorted(ref) == sorted(fast)
        for k in ref:
            assert _same(ref[k], fast[k]), (task, k, ref[k], fast[k])
    assert results["lvis_api"]["segm"]["AP50"] > 95


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"image_id": "1"}, r"results\[1\] field 'image_id' must be an integer"),
        ({"category_id": [1]}, r"results\[1\] field 'category_id' must be an integer"),
        ({"bbox": [1, 2, 3]}, r"results\[1\] field 'bbox' must be \[x, y, width, height\]"),
        ({"score": "0.5"}, r"results\[1\] field 'score' must be a number"),
        ({"score": None}, r"results\[1\] field 'score' must be a number"),
        ({"segmentation": [[1, 2, 3, 4, 5, 6]]}, r"results\[1\] field 'segmentation' must be a"),
        (
            {"segmentation": {"size": [100, 100], "counts": "PP`0"}},
            r"results\[1\] field 'segmentation' is not a valid RLE of its size \[100, 100\]",
        ),
    ],
)
def test_malformed_results_are_refused_naming_the_result(bad, message):
    gt = _gt((1, [10, 10, 20, 20], {}))
    good = _det([10, 10, 20, 20])
    if "segmentation" in bad:
        good["segmentation"] = _box_rle([10, 10, 20, 20])
    for engine in ENGINES:
        with pytest.raises(ResultsError, match=message):
            evaluate_lvis(
                gt, [good, {**good, **bad}], "segm" if "segmentation" in bad else "bbox", engine
            )
    missing = {k: v for k, v in good.items() if k != "score"}
    with pytest.raises(ResultsError, match=r"results\[1\] has no field 'score'"):
        evaluate_lvis(gt, [good, missing], "bbox")


def _box_rle(box, size=100):
    import pycocotools.mask as mask_util

    x, y, w, h = box
    mask = np.zeros((size, size, 1), np.uint8, order="F")
    mask[y : y + h, x : x + w] = 1
    return {"size": [size, size], "counts": mask_util.encode(mask)[0]["counts"].decode()}


def test_mask_only_results_evaluate_segm_and_refuse_bbox():
    gt = _gt((1, [10, 10, 20, 20], {}))
    dets = [{**_det(None), "segmentation": _box_rle([10, 10, 20, 20])}]
    del dets[0]["bbox"]
    for engine in ENGINES:
        assert evaluate_lvis(gt, dets, "segm", engine).summary["AP"] == pytest.approx(1.0)
        with pytest.raises(ResultsError, match=r"results\[0\] has no field 'bbox'"):
            evaluate_lvis(gt, dets, "bbox", engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_ground_truth_that_lvis_evaluation_cannot_read_is_refused(engine, tmp_path):
    from eql.evaluation.lvis_inputs import GroundTruthError

    gt = _gt((1, [10, 10, 20, 20], {}), (1, [50, 50, 20, 20], {}))
    del gt["annotations"][1]["area"]
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    with pytest.raises(GroundTruthError, match=rf"{path}: annotations\[1\] \(id 2\) field 'area'"):
        evaluate_lvis(str(path), [_det([10, 10, 20, 20])], "bbox", engine)
    gt = _gt((1, [10, 10, 20, 20], {}))
    del gt["annotations"][0]["segmentation"]
    dets = [{**_det([10, 10, 20, 20]), "segmentation": _box_rle([10, 10, 20, 20])}]
    assert evaluate_lvis(gt, dets, "bbox", engine).summary["AP"] == pytest.approx(1.0)
    with pytest.raises(GroundTruthError, match=r"annotations\[0\] \(id 1\) has no 'segmentation'"):
        evaluate_lvis(gt, dets, "segm", engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_images_without_federated_lists_have_empty_ones(engine):
    """LVIS's meaning of an image without ``neg_category_ids`` / ``not_exhaustive_category_ids``
    (lvis-api itself would fail on the missing key): no negative, every category exhaustive."""
    gt = _gt((1, [10, 10, 20, 20], {}))
    for key in ("neg_category_ids", "not_exhaustive_category_ids"):
        del gt["images"][0][key]
    dets = [_det([10, 10, 20, 20], 0.5), _det([60, 60, 20, 20], 0.9)]
    assert evaluate_lvis(gt, dets, "bbox", engine).summary["AP50"] == pytest.approx(0.5, abs=0.01)
