"""LVIS-scale measurement tools at a small size: the LVIS v1-sized json generator, the end-to-end
evaluation benchmark (metrics equal to lvis-api's, a valid results file), the data-loading
benchmark and the image-check benchmark."""

import json
import math
from collections import defaultdict

import pytest
from common import load_script

from eql.benchmark.lvis_sized import LVIS_V1_SIZES, write_lvis_sized_json
from eql.data.lvis_format import lvis_v1_categories
from eql.data.lvis_json import read_lvis_json


def _benchmark(name):
    return load_script(f"benchmarks/{name}.py")


@pytest.fixture(scope="module")
def sized_json(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("sized") / "train.json")
    return write_lvis_sized_json(path, 2000, 25_200, "train", seed=3)


def test_lvis_sized_json_has_lvis_shape(sized_json):
    data = read_lvis_json(sized_json, require_annotations=True)  # eql's validating reader
    assert (len(data["images"]), len(data["annotations"])) == (2000, 25_200)
    cats = {c["id"]: c for c in data["categories"]}
    assert len(cats) == 1203 and {c["frequency"] for c in cats.values()} == {"r", "c", "f"}
    images_of = defaultdict(set)
    for a in data["annotations"]:
        images_of[a["category_id"]].add(a["image_id"])
        assert len(a["segmentation"][0]) >= 20 and len(a["segmentation"][0]) % 2 == 0
    # each category is in image_count x 2000 / 100,170 images, rounded down or up
    scale = 2000 / LVIS_V1_SIZES["train"][0]
    for c in lvis_v1_categories():
        expected = c["image_count"] * scale
        assert math.floor(expected) <= len(images_of[c["id"]]) <= math.floor(expected) + 1
    positives = defaultdict(set)
    for a in data["annotations"]:
        positives[a["image_id"]].add(a["category_id"])
    assert sum(len(img["neg_category_ids"]) for img in data["images"]) > 2000
    for img in data["images"]:
        assert not set(img["neg_category_ids"]) & positives[img["id"]]
        assert set(img["not_exhaustive_category_ids"]) <= positives[img["id"]]
    # detectron2's own loader reads it too
    from detectron2.data.datasets.lvis import load_lvis_json

    dicts = load_lvis_json(sized_json, "/nonexistent")
    assert sum(len(d["annotations"]) for d in dicts) == 25_200


@pytest.mark.slow
def test_end_to_end_evaluation_benchmark_small(tmp_path):
    """Every contender runs; eql's metrics equal lvis-api's on eql's own results file (checked
    inside), detectron2's are close (it does not round boxes); the file passes the validator."""
    from eql.evaluation.submission import validate_submission

    res = _benchmark("eval_end_to_end").main(
        ["--num-images", "30", "--tasks", "bbox", "segm", "--workdir", str(tmp_path), "--gather"]
    )
    for task in ("bbox", "segm"):
        eql, lvis_api, d2 = (res[task][k]["metrics"] for k in ("eql", "lvis_api", "detectron2"))
        for k in eql:
            assert eql[k] == pytest.approx(lvis_api[k], abs=1e-4)
            assert eql[k] == pytest.approx(d2[k], abs=0.5)
        assert 5 < eql["AP"] < 95
        assert res[task]["eql"]["detections"] == 30 * 300
        assert all(r["seconds"] > 0 for r in res[task].values())
        results = json.loads((tmp_path / f"{task}_eql" / "lvis_instances_results.json").read_text())
        gt = json.loads(next(tmp_path.glob("lvis_v1_val_sized_30_*.json")).read_text())
        problems = validate_submission(results, gt, require_segmentation=task == "segm")
        assert not problems, problems
    assert res["gather"]["detections"] == 30 * 300
    assert set(res["gather"]["times"]) == {"columns", "dicts"}


@pytest.mark.slow
def test_data_scale_benchmark_small(tmp_path):
    res = _benchmark("data_scale").main(["--num-images", "300", "--workdir", str(tmp_path)])
    base = res["detectron2"]
    assert base["annotations"] == round(LVIS_V1_SIZES["train"][1] * 300 / LVIS_V1_SIZES["train"][0])
    for name in ("eql (first)", "eql (cached)"):
        assert (res[name]["images"], res[name]["annotations"]) == (300, base["annotations"])
        assert res[name]["negative_labels"] > 300
    assert list(tmp_path.glob("*.category_stats.json"))  # the first run cached its statistics


@pytest.mark.slow
def test_image_check_benchmark_small(tmp_path):
    """Real JPEG files of the json's sizes: every image checked (first from the json, then from
    the cached manifest), a sample, and the loader they are compared with."""
    from eql.data.image_files import MANIFEST_SUFFIX

    res = _benchmark("image_check").main(
        ["--num-images", "200", "--sample", "20", "--workdir", str(tmp_path)]
    )
    assert res["loader"]["images"] == res["check (first)"]["images"] == 200
    assert res["check (cached)"]["images"] == 200 and res["check (sample 20)"]["images"] == 20
    assert all(r["seconds"] > 0 for r in res.values())
    assert list(tmp_path.glob("*" + MANIFEST_SUFFIX))


@pytest.mark.slow
def test_train_step_benchmark_runs_on_cpu():
    """Two rows at a tiny size: times, peak memory and the inference time come back, the EQL row
    is compared with the sigmoid CE row; the config options at the end reach every row's model
    (64 sampled boxes an image: the mask head over 128 boxes of 1,203 classes is most of a CPU
    iteration)."""
    rows = ["Mask R-CNN sigmoid CE", "Mask R-CNN EQL"]
    opts = ["MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "64", "MODEL.RPN.POST_NMS_TOPK_TEST", "100"]
    res = _benchmark("train_step").main(
        ["--device", "cpu", "--batch", "1", "--min-size", "96", "--max-size", "128", "--iters", "1"]
        + ["--warmup", "1", "--infer-images", "1", "--detections", "20", "--rows", *rows]
        + ["--no-amp", *opts]
    )
    assert sorted(name for name, _ in res) == sorted(rows)
    for r in res.values():
        assert r["seconds"] > 0 and r["peak_mb"] > 100 and r["inference_seconds"] > 0
        assert r["opts"][-6:] == ["TEST.DETECTIONS_PER_IMAGE", "20", *opts]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--rows", "Mask R-CNN EQLv3"], "argument --rows: invalid choice: 'Mask R-CNN EQLv3'"),
        (["--no-amp", "MODEL.ROI_HEADS.NO_SUCH_KEY", "1"], "MODEL.ROI_HEADS.NO_SUCH_KEY"),
        (["--no-amp", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE"], "must be KEY VALUE pairs"),
        (["--no-amp", "TEST.DETECTIONS_PER_IMAGE", "5"], "set by --detections"),
        (["--no-amp", "MODEL.RESNETS.NORM", "FrozenBN"], "MODEL.RESNETS.NORM: BN"),
    ],
)
def test_train_step_refuses_an_unknown_row_or_config_option_before_any_row(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        _benchmark("train_step").main(["--device", "cpu", *argv])
    assert stop.value.code == 2
    printed = capsys.readouterr()
    assert message in printed.err and printed.out == ""  # no header, no row
