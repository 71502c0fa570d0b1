"""Robustness cases (tests/robustness/test_robustness.py): bad weights and checkpoints, and bad
input to the tools (submission validator, model zoo, publishing, conversion, statistics, plots)."""

import json
import os

from common import INSTANT, Case
from robustness_config_cases import counts_json

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
        os.environ["EQL_MODEL_ZOO_REGISTRY"] = str(path)  # test_case restores the environment
        argv = env.train_argv("MODEL.WEIGHTS", "eql://test/model", extra=["--eval-only"])
        return "train_net", argv, [str(path)] * name_path + list(culprits)

    return build


_METRIC_NOT_A_NUMBER = '{"iteration": 1}\n{"iteration": 2, "bbox/AP": "high"}\n'
_ENTRY = {"config": "x.yaml", "url": "http://h/x.pth", "sha256": "a" * 64}


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
            m.write_bytes(metrics) if isinstance(metrics, bytes) else m.write_text(metrics)
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
        path.write_text(json.dumps(counts_json(images=0)))
        return "tail_ratio", ["--json", str(path)], [str(path), "num_images_with_annotations"]

    return build


def _intervals_of_a_checkpoint_without_records(env):
    import torch

    run = env.tmp / "run"
    run.mkdir()
    stats = {"format": "eql-gradient-stats/1", "records": {"cls_loss": {"ratio": [1.0]}},
             "classes": {"frequency": ["r"]}}  # fmt: skip
    (run / "gradient_stats.json").write_text(json.dumps(stats))
    torch.save({"model": {"w": torch.zeros(1)}}, run / "model_0000009.pth")
    culprits = [str(run / "model_0000009.pth"), "no gradient record", "GRADIENT_STATS.PERIOD"]
    return "gradient_intervals", [str(run)], culprits


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
    Case(
        "T38-publish-metric-not-a-number",
        _publish("metrics.json", "line 2", "bbox/AP", "'high'", metrics=_METRIC_NOT_A_NUMBER),
    ),
    Case("T39-publish-metrics-binary", _publish("line 1 is not text", metrics=b"\x89PNG\x00\xff")),
    Case("T41-gradient-intervals-without-records", _intervals_of_a_checkpoint_without_records),
    Case(
        "T40-zoo-metric-not-a-number",
        _zoo_registry(
            {"models": {"test/model": {**_ENTRY, "metrics": {"bbox/AP": "high"}}}},
            "'bbox/AP'",
            "'high'",
        ),
    ),
]
