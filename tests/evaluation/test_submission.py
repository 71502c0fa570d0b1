"""Test-dev: a json without annotations gives a results file that the validator accepts; the
validator catches each kind of error."""

import copy
import json
import os
import subprocess
import sys

import pytest
from common import REPO, run_tool

from eql.benchmark.synthetic_detections import generate_detections
from eql.evaluation.submission import validate_submission


@pytest.fixture(scope="module")
def test_dev(tiny_synthetic, tmp_path_factory):
    """The tiny val split as an image-info json (no annotations) plus a valid submission."""
    with open(tiny_synthetic["val"]) as f:
        val = json.load(f)
    info = {k: v for k, v in val.items() if k != "annotations"}
    dets = generate_detections(val, 20, seed=0, with_masks=True)
    for d in dets:
        d.pop("area")
    root = tmp_path_factory.mktemp("testdev")
    (root / "info.json").write_text(json.dumps(info))
    (root / "results.json").write_text(json.dumps(dets))
    return info, dets, root


def test_valid_submission(test_dev):
    info, dets, _ = test_dev
    assert validate_submission(dets, info, require_segmentation=True) == []


def _bad(dets, i, **changes):
    out = copy.deepcopy(dets)
    for k, v in changes.items():
        if v is None:
            del out[i][k]
        else:
            out[i][k] = v
    return out


@pytest.mark.parametrize(
    "change,kind,fragment",
    [
        (dict(image_id=99999), "unknown image_id", "image 99999"),
        (dict(category_id=0), "unknown category_id", "LVIS ids start at 1"),
        (dict(category_id=777), "unknown category_id", "777"),
        (dict(bbox=[10, 10, -5, 4]), "bbox", "width or height <= 0"),
        (dict(bbox=[100, 100, 120, 130]), "bbox", "XYXY instead of XYWH"),
        (dict(bbox=[1, 2, 3]), "bbox", "4 finite numbers"),
        (dict(score=1.5), "score", "not in [0, 1]"),
        (dict(score=None), "missing keys", "score"),
        (dict(segmentation={"size": [5, 5], "counts": "abc"}), "segmentation", "image's"),
        (dict(segmentation=[[1, 2, 3, 4, 5, 6]]), "segmentation", "RLE dict"),
    ],
)
def test_each_error_kind_is_reported(test_dev, change, kind, fragment):
    info, dets, _ = test_dev
    problems = validate_submission(_bad(dets, 3, **change), info, require_segmentation=True)
    assert len(problems) == 1, problems
    assert problems[0].startswith(kind) and fragment in problems[0], problems[0]
    assert "#3" in problems[0]


def test_caps(test_dev):
    from collections import Counter

    info, dets, _ = test_dev
    img = dets[0]["image_id"]
    many = dets + [dict(dets[0]) for _ in range(5)]
    problems = validate_submission(many, info, max_dets_per_image=20)
    assert problems == [f"per-image cap: 1 case(s): image {img} has 25 > 20"]
    counts = Counter(d["category_id"] for d in many)
    top = max(counts.values())
    over = [c for c, n in counts.items() if n == top]
    problems = validate_submission(many, info, max_dets_per_image=None, dets_per_class=top - 1)
    assert len(problems) == 1 and problems[0].startswith(f"per-class cap: {len(over)} case(s)")
    for c in over:
        assert f"category {c} has {top} > {top - 1}" in problems[0]


def test_not_a_list():
    assert validate_submission({"a": 1}, {"images": [], "categories": []})[0].startswith("format")


@pytest.mark.slow
def test_validator_tool(test_dev, tmp_path):
    info, dets, root = test_dev
    tool = os.path.join(REPO, "tools", "validate_submission.py")
    ok = subprocess.run(
        [sys.executable, tool, str(root / "results.json"), str(root / "info.json"), "--segm"],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and "OK (" in ok.stdout
    # the script's entry shown once; the other answers in-process (a fresh process is seconds)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_bad(dets, 0, score=2.0, category_id=0)))
    code, _, out = run_tool("validate_submission", [str(bad), str(root / "info.json")])
    assert code == 1 and "2 kind(s) of problem" in out and "score" in out
    code, err, _ = run_tool(
        "validate_submission", [str(tmp_path / "nope.json"), str(root / "info.json")]
    )
    assert code == 2 and "not found" in err


@pytest.mark.slow
def test_test_dev_inference_writes_a_valid_submission(tiny_synthetic, test_dev, tmp_path):
    """train_net --eval-only on a json without annotations: a results file, no metrics, valid."""
    info, _, root = test_dev
    from common import run_train_net, synthetic_args

    out = tmp_path / "testdev_run"
    # train briefly, then evaluate the checkpoint on the image-info json registered as test set
    run_train_net(
        *synthetic_args(tiny_synthetic, out), "SOLVER.MAX_ITER", "2", "DATASETS.TEST", "()"
    )
    register = (
        "from eql.data import register_lvis_format_dataset; "
        f"register_lvis_format_dataset('tiny_test_dev', {str(root / 'info.json')!r}, "
        f"{tiny_synthetic['val_images']!r})"
    )
    script = tmp_path / "eval_test_dev.py"
    script.write_text(
        "import sys, runpy\n" + register + "\n"
        f"sys.argv = ['train_net.py'] + sys.argv[1:]\n"
        f"runpy.run_path({os.path.join(REPO, 'tools', 'train_net.py')!r}, run_name='__main__')\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            str(script),
            "--eval-only",
            *synthetic_args(tiny_synthetic, out),
            "MODEL.WEIGHTS",
            str(out / "model_final.pth"),
            "DATASETS.TEST",
            "('tiny_test_dev',)",
            "MODEL.ROI_HEADS.SCORE_THRESH_TEST",
            "0.0",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "has no annotations: results written, not evaluated" in proc.stdout + proc.stderr
    results = json.loads(
        (out / "inference" / "tiny_test_dev" / "lvis_instances_results.json").read_text()
    )
    assert results and {r["image_id"] for r in results} <= {img["id"] for img in info["images"]}
    assert validate_submission(results, info, require_segmentation=True) == []
