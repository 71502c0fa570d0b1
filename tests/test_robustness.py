"""The robustness table (docs/robustness.md): every bad input ends in one clear error that names
the culprit, a non-zero exit and no partial output. Each case builds its bad input in a temporary
folder and runs the user's command in-process (tools' ``main``/``cli``)."""

import contextlib
import io
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from typing import Callable, List, Tuple

import pytest
from conftest import REPO

sys.path.insert(0, os.path.join(REPO, "tools"))

INSTANT = os.path.join(
    REPO, "configs/quick_schedules/synthetic_mask_rcnn_R_18_FPN_instant_test.yaml"
)
DOCS = os.path.join(REPO, "docs", "robustness.md")


@dataclass
class Case:
    id: str
    build: Callable  # (Env) -> (tool, argv, culprits)


class Env:
    """A temporary folder with a copy of the tiny synthetic set whose jsons a case can edit."""

    def __init__(self, tmp_path, tiny):
        self.tmp = tmp_path
        self.root = tmp_path / "data"
        shutil.copytree(os.path.join(tiny["root"], "annotations"), self.root / "annotations")
        self.out = tmp_path / "out"

    def json_path(self, split="train"):
        return self.root / "annotations" / f"lvis_synthetic_{split}.json"

    def edit(self, fn, split="train"):
        path = self.json_path(split)
        data = json.loads(path.read_text())
        result = fn(data)
        path.write_text(result if isinstance(result, str) else json.dumps(data))
        return str(path)

    def train_argv(self, *opts, config=INSTANT, extra=()):
        return [
            *extra,
            "--config-file",
            config,
            "DATASETS.SYNTHETIC.ROOT",
            str(self.root),
            "DATASETS.SYNTHETIC.PREFIX",
            "rb",
            "DATASETS.TRAIN",
            "('rb_train',)",
            "DATASETS.TEST",
            "('rb_val',)",
            "OUTPUT_DIR",
            str(self.out),
            *opts,
        ]


def run_tool(tool: str, argv: List[str]) -> Tuple[int, str, str]:
    """Runs tools/<tool>.py in-process: (exit code, stderr, stdout)."""
    module = __import__(tool)
    err, out = io.StringIO(), io.StringIO()
    env = dict(os.environ)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                entry = getattr(module, "cli", None) or module.main
                code = entry(argv)
                code = 0 if code is None or not isinstance(code, int) else code
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
    finally:
        os.environ.clear()
        os.environ.update(env)
    return code, err.getvalue(), out.getvalue()


# ---------------------------------------------------------------------------------------------
# datasets (LVIS-format json of DATASETS.TRAIN / DATASETS.TEST)


def _json_case(mutate, *culprits, split="train"):
    def build(env):
        path = env.edit(mutate, split)
        return "train_net", env.train_argv(), [path, *culprits]

    return build


def _set(key, value, index=0, section="images"):
    def mutate(d):
        d[section][index][key] = value

    return mutate


def _drop(key, index=0, section="images"):
    def mutate(d):
        del d[section][index][key]

    return mutate


def _with(fn):
    def mutate(d):
        fn(d)

    return mutate


DATASET_CASES = [
    Case("D01-json-syntax", _json_case(lambda d: "{not json", "not valid json")),
    Case("D02-json-truncated", _json_case(lambda d: json.dumps(d)[:500], "not valid json")),
    Case("D03-json-top-level-list", _json_case(lambda d: "[1, 2]", "top level must be an object")),
    Case("D04-no-categories", _json_case(_with(lambda d: d.pop("categories")), "'categories'")),
    Case("D05-no-images", _json_case(_with(lambda d: d.pop("images")), "'images'")),
    Case("D06-empty-images", _json_case(_with(lambda d: d.update(images=[])), "'images' is empty")),
    Case(
        "D07-empty-categories",
        _json_case(_with(lambda d: d.update(categories=[])), "'categories' is empty"),
    ),
    Case("D08-category-without-name", _json_case(_drop("name", 3, "categories"), "categories[3]")),
    Case(
        "D09-duplicate-category-ids",
        _json_case(_set("id", 1, 1, "categories"), "duplicate ids"),
    ),
    Case("D10-image-without-id", _json_case(_drop("id", 2), "images[2]", "'id'")),
    Case("D11-image-without-height", _json_case(_drop("height", 2), "images[2]", "'height'")),
    Case(
        "D12-image-without-file-name",
        _json_case(_drop("file_name", 2), "images[2]", "'file_name' or 'coco_url'"),
    ),
    Case(
        "D13-unknown-negative-category",
        _json_case(_set("neg_category_ids", [999], 2), "neg_category_ids", "999"),
    ),
    Case(
        "D14-unknown-not-exhaustive-category",
        _json_case(_set("not_exhaustive_category_ids", [999], 2), "not_exhaustive", "999"),
    ),
    Case(
        "D15-duplicate-image-id",
        _json_case(_with(lambda d: d["images"].append(dict(d["images"][0]))), "repeats image id"),
    ),
    Case("D16-image-width-zero", _json_case(_set("width", 0, 1), "images[1]", "'width'")),
    Case(
        "D17-annotation-without-bbox",
        _json_case(_drop("bbox", 4, "annotations"), "annotations[4]", "'bbox'"),
    ),
    Case(
        "D18-annotation-unknown-category",
        _json_case(_set("category_id", 999, 4, "annotations"), "annotations[4]", "999"),
    ),
    Case(
        "D19-annotation-unknown-image",
        _json_case(_set("image_id", 99999, 4, "annotations"), "annotations[4]", "99999"),
    ),
    Case(
        "D20-duplicate-annotation-id",
        _json_case(
            _with(lambda d: d["annotations"][5].update(id=d["annotations"][4]["id"])),
            "duplicate annotation id",
        ),
    ),
    Case(
        "D21-bbox-three-numbers",
        _json_case(_set("bbox", [1, 2, 3], 4, "annotations"), "annotations[4]", "'bbox'"),
    ),
    Case(
        "D22-bbox-strings",
        _json_case(_set("bbox", ["1", "2", "3", "4"], 4, "annotations"), "annotations[4]"),
    ),
    Case(
        "D23-bbox-negative-width",
        _json_case(_set("bbox", [5, 5, -10, 8], 4, "annotations"), "annotations[4]", "negative"),
    ),
    Case(
        "D24-all-boxes-empty",
        _json_case(
            _with(
                lambda d: [
                    a.update(bbox=[a["bbox"][0], a["bbox"][1], 0, 0]) for a in d["annotations"]
                ]
            ),
            "every box",
        ),
    ),
    Case(
        "D25-polygon-two-points",
        _json_case(_set("segmentation", [[1, 1, 5, 5]], 4, "annotations"), "annotations[4]"),
    ),
    Case(
        "D26-training-json-without-annotations",
        _json_case(_with(lambda d: d.pop("annotations")), "'annotations'"),
    ),
    Case(
        "D27-training-json-empty-annotations",
        _json_case(_with(lambda d: d.update(annotations=[])), "'annotations' is empty"),
    ),
    Case("D28-val-json-syntax", _json_case(lambda d: "{", "not valid json", split="val")),
    Case(
        "D29-val-unknown-category",
        _json_case(_set("category_id", 999, 0, "annotations"), "annotations[0]", split="val"),
    ),
]


def _missing_train_json(env):
    os.remove(env.json_path("train"))
    return "train_net", env.train_argv(), [str(env.json_path("train")), "file not found"]


def _val_other_categories(env):
    def mutate(d):  # same count, one id changed
        old = d["categories"][-1]["id"]
        d["categories"][-1]["id"] = 5000
        for a in d.get("annotations", []):
            if a["category_id"] == old:
                a["category_id"] = 5000
        for img in d["images"]:
            for key in ("neg_category_ids", "not_exhaustive_category_ids"):
                img[key] = [5000 if c == old else c for c in img.get(key, [])]

    env.edit(mutate, "val")
    return "train_net", env.train_argv(), ["DATASETS.TEST", "rb_val", "other categories"]


def _num_classes_mismatch(env):
    argv = env.train_argv("MODEL.ROI_HEADS.NUM_CLASSES", "30")
    return "train_net", argv, ["rb_train", "24 categories", "30"]


def _unregistered(key):
    def build(env):
        argv = env.train_argv(key, "('no_such_set',)")
        return "train_net", argv, [key, "no_such_set", "not registered"]

    return build


DATASET_CASES += [
    Case("D30-training-json-missing", _missing_train_json),
    Case("D31-val-categories-differ", _val_other_categories),
    Case("D32-num-classes-differ-from-dataset", _num_classes_mismatch),
    Case("D33-unregistered-train-set", _unregistered("DATASETS.TRAIN")),
    Case("D34-unregistered-test-set", _unregistered("DATASETS.TEST")),
]


# ---------------------------------------------------------------------------------------------
# config keys, values and files


def _opts_case(*opts_and_culprits, extra=()):
    *opts, culprit = opts_and_culprits

    def build(env):
        return "train_net", env.train_argv(*opts, extra=extra), [culprit]

    return build


def _config_file_case(text, *culprits):
    def build(env):
        path = env.tmp / "my_config.yaml"
        if text is not None:
            path.write_text(text)
        return "train_net", env.train_argv(config=str(path)), [str(path), *culprits]

    return build


CONFIG_CASES = [
    Case("C01-unknown-key", _opts_case("MODEL.EQL.NOPE", "1", "MODEL.EQL.NOPE")),
    Case("C02-moved-key", _opts_case("MODEL.EQL.LAMBDA", "0.1", "MODEL.EQL.EQL.LAMBDA")),
    Case("C03-unknown-loss", _opts_case("MODEL.EQL.LOSS", "focal2", "MODEL.EQL.LOSS")),
    Case(
        "C04-lambda-out-of-range", _opts_case("MODEL.EQL.EQL.LAMBDA", "2", "MODEL.EQL.EQL.LAMBDA")
    ),
    Case(
        "C05-unknown-weight-function",
        _opts_case("MODEL.EQL.EQL.WEIGHT_FUNCTION", "cosine", "WEIGHT_FUNCTION"),
    ),
    Case(
        "C06-negative-tail-image-count",
        _opts_case("MODEL.EQL.EQL.TAIL_IMAGE_COUNT", "-3", "TAIL_IMAGE_COUNT"),
    ),
    Case("C07-prior-prob-one", _opts_case("MODEL.EQL.PRIOR_PROB", "1.0", "MODEL.EQL.PRIOR_PROB")),
    Case(
        "C08-frequency-source-missing",
        _opts_case("MODEL.EQL.FREQUENCY_SOURCE", "/nonexistent/counts.json", "FREQUENCY_SOURCE"),
    ),
    Case("C09-retinanet-loss-in-roi-heads", _opts_case("MODEL.EQL.LOSS", "efl", "MODEL.EQL.LOSS")),
    Case(
        "C10-fed-loss-with-eqlv2",
        _opts_case(
            "MODEL.ROI_BOX_HEAD.USE_FED_LOSS",
            "True",
            "MODEL.EQL.LOSS",
            "eqlv2",
            "MODEL.EQL.PRIOR_PROB",
            "0.0",
            "USE_FED_LOSS",
        ),
    ),
    Case(
        "C11-negative-gradient-stats-period",
        _opts_case("MODEL.EQL.GRADIENT_STATS.PERIOD", "-1", "GRADIENT_STATS.PERIOD"),
    ),
    Case(
        "C12-gradient-stats-without-eql-head",
        _opts_case(
            "MODEL.ROI_HEADS.NAME",
            "StandardROIHeads",
            "MODEL.EQL.GRADIENT_STATS.PERIOD",
            "5",
            "GRADIENT_STATS.PERIOD",
        ),
    ),
    Case("C13-unknown-eval-engine", _opts_case("TEST.LVIS.ENGINE", "cocoapi", "TEST.LVIS.ENGINE")),
    Case("C14-eqlv2-gamma-zero", _opts_case("MODEL.EQL.EQLV2.GAMMA", "0", "MODEL.EQL.EQLV2.GAMMA")),
    Case(
        "C15-efl-negative-scale",
        _opts_case("MODEL.EQL.EFL.SCALE_FACTOR", "-1.0", "MODEL.EQL.EFL.SCALE_FACTOR"),
    ),
    Case("C16-amp-on-cpu", _opts_case("SOLVER.AMP.ENABLED", "True", "SOLVER.AMP.ENABLED")),
    Case(
        "C17-unsupported-sampler",
        _opts_case("DATALOADER.SAMPLER_TRAIN", "WeightedTrainingSampler", "SAMPLER_TRAIN"),
    ),
    Case("C18-wrong-type", _opts_case("SOLVER.MAX_ITER", "abc", "SOLVER.MAX_ITER")),
    Case("C19-odd-overrides", _opts_case("SOLVER.MAX_ITER", "KEY VALUE")),
    Case("C20-config-file-missing", _config_file_case(None, "config file not found")),
    Case("C21-config-not-yaml", _config_file_case("MODEL: [unclosed", "not valid yaml")),
    Case(
        "C22-config-file-unknown-key",
        _config_file_case("MODEL:\n  NOPE_KEY: 3\n", "MODEL.NOPE_KEY"),
    ),
    Case(
        "C23-roi-loss-in-retinanet",
        _opts_case(
            "MODEL.META_ARCHITECTURE", "EQLRetinaNet", "MODEL.EQL.LOSS", "eqlv2", "MODEL.EQL.LOSS"
        ),
    ),
    Case(
        "C25-prior-prob-with-softmax-loss",
        _opts_case("MODEL.EQL.LOSS", "seesaw", "MODEL.EQL.PRIOR_PROB", "0.001", "PRIOR_PROB"),
    ),
    Case(
        "C26-gradient-stats-with-softmax-loss",
        _opts_case(
            "MODEL.EQL.LOSS",
            "seesaw",
            "MODEL.EQL.PRIOR_PROB",
            "0.0",
            "MODEL.EQL.GRADIENT_STATS.PERIOD",
            "5",
            "GRADIENT_STATS.PERIOD",
        ),
    ),
    Case(
        "C27-unknown-classifier", _opts_case("MODEL.EQL.CLASSIFIER", "mlp", "MODEL.EQL.CLASSIFIER")
    ),
    Case(
        "C28-cosine-classifier-in-retinanet",
        _opts_case(
            "MODEL.META_ARCHITECTURE",
            "EQLRetinaNet",
            "MODEL.EQL.LOSS",
            "efl",
            "MODEL.EQL.CLASSIFIER",
            "cosine",
            "MODEL.EQL.CLASSIFIER",
        ),
    ),
    Case("C29-seesaw-negative-p", _opts_case("MODEL.EQL.SEESAW.P", "-0.5", "MODEL.EQL.SEESAW.P")),
    Case(
        "C30-segmentation-loss-in-roi-heads",
        _opts_case(
            "MODEL.EQL.LOSS", "softmax_eql", "MODEL.EQL.PRIOR_PROB", "0.0", "MODEL.EQL.LOSS"
        ),
    ),
    Case(
        "C31-unknown-softmax-eql-indicator",
        _opts_case("MODEL.EQL.SOFTMAX_EQL.INDICATOR", "both", "MODEL.EQL.SOFTMAX_EQL.INDICATOR"),
    ),
    Case(
        "C24-batch-not-divisible",
        _opts_case("SOLVER.IMS_PER_BATCH", "3", "SOLVER.IMS_PER_BATCH", extra=["--num-gpus", "2"]),
    ),
]


# ---------------------------------------------------------------------------------------------
# category-count files (MODEL.EQL.FREQUENCY_SOURCE)


def _counts_case(content, *culprits):
    def build(env):
        path = env.tmp / "counts.json"
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        argv = env.train_argv("MODEL.EQL.FREQUENCY_SOURCE", str(path))
        return "train_net", argv, [str(path), *culprits]

    return build


def _counts(n=24, images=100, **override):
    cats = [{"id": j + 1, "image_count": 5} for j in range(n)]
    data = {"categories": cats, "num_images_with_annotations": images}
    data.update(override)
    return data


COUNT_CASES = [
    Case("K01-counts-not-json", _counts_case("{oops", "not valid json")),
    Case(
        "K02-category-without-image-count",
        _counts_case(_counts(categories=[{"id": 1}] * 24), "categories[0]", "'image_count'"),
    ),
    Case(
        "K03-negative-image-count",
        _counts_case(
            _counts(categories=[{"id": j + 1, "image_count": -1} for j in range(24)]),
            "'image_count'",
        ),
    ),
    Case(
        "K04-zero-annotated-images",
        _counts_case(_counts(images=0), "'num_images_with_annotations'"),
    ),
    Case(
        "K05-missing-annotated-images",
        _counts_case({"categories": _counts()["categories"]}, "'num_images_with_annotations'"),
    ),
    Case("K06-class-count-differs", _counts_case(_counts(n=10), "10 classes")),
    Case(
        "K07-duplicate-category-ids",
        _counts_case(_counts(categories=[{"id": 1, "image_count": 5}] * 24), "duplicate ids"),
    ),
]


# ---------------------------------------------------------------------------------------------
# weights and checkpoints


def _text_weights(env):
    path = env.tmp / "weights.pth"
    path.write_text("not weights")
    return "train_net", env.train_argv("MODEL.WEIGHTS", str(path)), [str(path), "not a readable"]


def _missing_weights(env):
    path = str(env.tmp / "nope.pth")
    return "train_net", env.train_argv("MODEL.WEIGHTS", path), [path, "file not found"]


def _eval_without_weights(env):
    return "train_net", env.train_argv(extra=["--eval-only"]), ["MODEL.WEIGHTS", "--eval-only"]


def _checkpoint(env, num_classes):
    import torch

    path = env.tmp / f"model_{num_classes}.pth"
    state = {"roi_heads.box_predictor.cls_score.weight": torch.zeros(num_classes + 1, 8)}
    torch.save({"model": state}, path)
    return str(path)


def _eval_other_class_count(env):
    path = _checkpoint(env, 80)
    argv = env.train_argv("MODEL.WEIGHTS", path, extra=["--eval-only"])
    return "train_net", argv, [path, "80 classes"]


def _resume_truncated(env):
    path = _checkpoint(env, 24)
    env.out.mkdir()
    data = open(path, "rb").read()
    (env.out / "model_0000009.pth").write_bytes(data[: len(data) // 2])
    (env.out / "last_checkpoint").write_text("model_0000009.pth")
    return "train_net", env.train_argv(extra=["--resume"]), ["model_0000009.pth", "truncated"]


def _resume_missing(env):
    env.out.mkdir()
    (env.out / "last_checkpoint").write_text("model_0000009.pth")
    return "train_net", env.train_argv(extra=["--resume"]), ["model_0000009.pth", "not found"]


WEIGHT_CASES = [
    Case("W01-weights-text-file", _text_weights),
    Case("W02-weights-missing", _missing_weights),
    Case("W03-eval-only-without-weights", _eval_without_weights),
    Case("W04-eval-only-other-class-count", _eval_other_class_count),
    Case("W05-resume-truncated-checkpoint", _resume_truncated),
    Case("W06-resume-missing-checkpoint", _resume_missing),
]


# ---------------------------------------------------------------------------------------------
# tools: submission validator, model zoo, publishing, conversion, statistics, plots


def _results(env, rows, info_mutate=None):
    """A results file and the val json as image info (optionally edited)."""
    info = json.loads(env.json_path("val").read_text())
    if info_mutate:
        info_mutate(info)
    info_path = env.tmp / "image_info.json"
    info_path.write_text(json.dumps(info))
    results_path = env.tmp / "results.json"
    results_path.write_text(rows if isinstance(rows, str) else json.dumps(rows))
    return str(results_path), str(info_path), info


def _det(image_id=1, category_id=1, **kw):
    return {
        "image_id": image_id,
        "category_id": category_id,
        "bbox": [1, 1, 5, 5],
        "score": 0.5,
        **kw,
    }


def _validator(rows, culprits, expect="error", info_mutate=None, name_file=True):
    def build(env):
        results, info, _ = _results(env, rows, info_mutate)
        where = [info] if name_file == "info" else [results] if name_file else []
        return "validate_submission", [results, info], [*where, *culprits], expect

    return build


def _shifted_ids(env):
    info = json.loads(env.json_path("val").read_text())
    ids = sorted(c["id"] for c in info["categories"])
    rows = [_det(category_id=c) for c in ids[:-1]]  # 0-based ids + 1 would never reach the last
    results, info_path, _ = _results(env, rows)
    return "validate_submission", [results, info_path], ["shifted by one", str(ids[-1])], "warning"


def _zoo_registry(content, *culprits, name_path=True):
    def build(env):
        path = env.tmp / "registry.json"
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        os.environ["EQL_MODEL_ZOO_REGISTRY"] = str(path)  # run_tool restores the environment
        argv = env.train_argv("MODEL.WEIGHTS", "eql://test/model", extra=["--eval-only"])
        return "train_net", argv, [str(path)] * name_path + list(culprits)

    return build


def _publish(
    *culprits, checkpoint="good", config="quick_schedules/Base-Synthetic-CPU.yaml", metrics=None
):
    def build(env):
        import torch

        ckpt = env.tmp / "model_final.pth"
        if checkpoint == "good":
            torch.save({"model": {"w": torch.zeros(2)}, "iteration": 3}, ckpt)
        else:
            ckpt.write_text(checkpoint)
        argv = [str(ckpt), "--name", "test/x", "--config", config, "--url-prefix", "http://h/"]
        argv += ["--out-dir", str(env.out)]
        if metrics is not None:
            m = env.tmp / "metrics.json"
            m.write_text(metrics)
            argv += ["--metrics", str(m)]
        return "publish_model", argv, list(culprits) + ([] if checkpoint == "good" else [str(ckpt)])

    return build


def _convert(rows):
    def build(env):
        import torch

        path = env.tmp / "official.pth"
        if rows is None:
            path.write_text("not a checkpoint")
            culprits = [str(path), "not a readable checkpoint"]
        else:
            state = {"roi_heads.box_predictor.cls_score.weight": torch.zeros(rows, 8)}
            torch.save({"model": state}, path)
            culprits = ["cls_score.weight", f"{rows} rows"]
        out = env.out / "converted.pth"
        argv = [str(path), str(out), "--config-file", INSTANT, "--no-check"]
        return "convert_official_checkpoint", argv, culprits

    return build


def _tail_ratio(kind):
    def build(env):
        if kind == "dataset":
            return "tail_ratio", ["--dataset", "no_such_set"], ["no_such_set"]
        path = env.tmp / "counts.json"
        path.write_text(json.dumps(_counts(images=0)))
        return "tail_ratio", ["--json", str(path)], [str(path), "num_images_with_annotations"]

    return build


def _plot_bad_stats(env):
    path = env.tmp / "gradient_stats.json"
    path.write_text('{"format": "eql-gradient-stats/1", "records": {}}')
    out = env.out / "ratio.png"
    return "plot_gradient_stats", [str(path), "-o", str(out)], [str(path), "'records'"]


TOOL_CASES = [
    Case("T01-results-not-json", _validator("[{", ["not valid json"])),
    Case(
        "T02-image-info-entry-without-id",
        _validator(
            [_det()],
            ["images[0]", "'id'"],
            info_mutate=lambda i: i["images"][0].pop("id"),
            name_file="info",
        ),
    ),
    Case(
        "T03-category-id-a-list",
        _validator([_det(category_id=[1])], ["category_id", "[1]", "list"], "problems"),
    ),
    Case(
        "T04-image-id-a-string",
        _validator([_det(image_id="1")], ["image_id", "'1'", "str"], "problems"),
    ),
    Case("T05-category-ids-shifted-by-one", _shifted_ids),
    Case(
        "T06-results-not-a-list", _validator({"a": 1}, ["JSON list"], "problems", name_file=False)
    ),
    Case("T07-zoo-registry-not-json", _zoo_registry("{nope", "not valid json")),
    Case(
        "T08-zoo-entry-without-url",
        _zoo_registry(
            {"models": {"test/model": {"config": "x.yaml", "sha256": "a" * 64}}}, "'url'"
        ),
    ),
    Case(
        "T09-zoo-unknown-model",
        _zoo_registry({"models": {}}, "no model named 'test/model'", name_path=False),
    ),
    Case("T10-publish-metrics-not-json", _publish("metrics.json", "line 1", metrics="{oops\n")),
    Case("T11-publish-config-missing", _publish("--config", "NOPE.yaml", config="NOPE.yaml")),
    Case("T12-publish-checkpoint-text", _publish("not a readable checkpoint", checkpoint="text")),
    Case("T13-convert-not-a-checkpoint", _convert(None)),
    Case("T14-convert-other-class-count", _convert(81)),
    Case("T15-tail-ratio-unknown-dataset", _tail_ratio("dataset")),
    Case("T16-tail-ratio-zero-images", _tail_ratio("json")),
    Case("T17-plot-stats-without-records", _plot_bad_stats),
]


CASES = DATASET_CASES + CONFIG_CASES + COUNT_CASES + WEIGHT_CASES + TOOL_CASES


def _snapshot(folder):
    if not os.path.isdir(folder):
        return None
    return sorted(
        os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs
    )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case, tiny_synthetic, tmp_path):
    env = Env(tmp_path, tiny_synthetic)
    tool, argv, culprits, *expect = case.build(env)
    expect = expect[0] if expect else "error"
    before = _snapshot(env.out)
    code, err, out = run_tool(tool, argv)
    assert "Traceback" not in err, err[-3000:]
    if expect == "error":  # one "error: ..." line, exit 2
        assert code == 2, err[-3000:]
        lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1, err[-3000:]
        text = lines[0]
    elif expect == "problems":  # the validator lists problems, exit 1
        assert code == 1, (err + out)[-3000:]
        text = out
    else:  # "warning": valid, exit 0, one warning line
        assert code == 0, (err + out)[-3000:]
        (text,) = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    for culprit in culprits:
        assert culprit in text, (culprit, text)
    assert _snapshot(env.out) == before  # no partial output


def test_every_case_is_in_the_table_and_every_row_has_a_case():
    text = open(DOCS).read()
    rows = set(re.findall(r"^\| `([A-Z]\d\d-[a-z0-9-]+)` \|", text, flags=re.M))
    assert rows == {c.id for c in CASES}
    assert len(rows) >= 60


def test_publish_writes_its_own_registry_by_default(tmp_path):
    """Not the installed package's models.json unless named with --registry."""
    import torch

    from eql.model_zoo.registry import SHIPPED_REGISTRY

    shipped = open(SHIPPED_REGISTRY).read()
    ckpt = tmp_path / "model_final.pth"
    torch.save({"model": {"w": torch.zeros(2)}, "optimizer": {}}, ckpt)
    out = tmp_path / "publish"
    argv = [str(ckpt), "--name", "test/x", "--config", "quick_schedules/Base-Synthetic-CPU.yaml"]
    code, err, _ = run_tool(
        "publish_model", argv + ["--url-prefix", "http://h/", "--out-dir", str(out)]
    )
    assert code == 0, err
    assert open(SHIPPED_REGISTRY).read() == shipped
    entry = json.loads((out / "models.json").read_text())["models"]["test/x"]
    (pth,) = out.glob("test_x-*.pth")
    assert entry["url"] == "http://h/" + pth.name and "optimizer" not in torch.load(pth)
