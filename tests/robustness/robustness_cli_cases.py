"""Robustness cases (tests/robustness/test_robustness.py): numeric options of the tools (one shared
set of argparse types, eql/utils/arguments.py: 0 is never "the default", NaN refused), output paths
checked before work starts, no tool overwrites its input, names that are not paths, and numeric
config keys (the declared table, eql/utils/config_keys.py; tests/test_config_keys.py walks every
key)."""

import json
import os

import torch
from common import INSTANT, Case


def _cli(tool, argv, *culprits):
    def build(env):
        return tool, list(argv), list(culprits)

    return build


def _opts_case(*opts_and_culprits, config_text=None):
    *opts, culprit = opts_and_culprits

    def build(env):
        config = INSTANT
        if config_text is not None:
            path = env.tmp / "my.yaml"
            path.write_text(f"_BASE_: {INSTANT}\n{config_text}\n")
            config = str(path)
        return "train_net", env.train_argv(*opts, config=config), [culprit]

    return build


def _convert_onto_itself(env):
    path = env.tmp / "model_final.pth"
    torch.save({"model": {"w": torch.zeros(2)}}, path)
    before = path.read_bytes()
    argv = [str(path), str(path), "--config-file", INSTANT, "--no-check"]

    def check():  # the training checkpoint is untouched
        assert path.read_bytes() == before

    env.after = check
    return "convert_official_checkpoint", argv, ["output", str(path), "also an input"]


def _publish_name_a_path(env):
    path = env.tmp / "model_final.pth"
    torch.save({"model": {"w": torch.zeros(2)}}, path)
    argv = [str(path), "--name", "../../x", "--config", "quick_schedules/Base-Synthetic-CPU.yaml"]
    argv += ["--url-prefix", "http://h/", "--out-dir", str(env.out)]
    return "publish_model", argv, ["--name", "'../../x'", "not a model name"]


def _zoo_entry_named_a_path(env):
    path = env.tmp / "registry.json"
    entry = {"config": "x.yaml", "url": "http://h/x.pth", "sha256": "a" * 64}
    path.write_text(json.dumps({"models": {"../../escape": entry}}))
    os.environ["EQL_MODEL_ZOO_REGISTRY"] = str(path)  # test_case restores the environment
    argv = env.train_argv("MODEL.WEIGHTS", "eql://../../escape", extra=["--eval-only"])
    return "train_net", argv, [str(path), "'../../escape'", "not a model name"]


def _plot_onto_its_input(env):
    path = env.tmp / "gradient_stats.json"
    path.write_text('{"format": "eql-gradient-stats/1", "records": {}}')
    return "plot_gradient_stats", [str(path), "-o", str(path)], ["--output", "also an input"]


def _classifier_output_under_a_file(env):
    (env.tmp / "file").write_text("x")
    argv = ["--iterations", "1", "--output", str(env.tmp / "file" / "results.json")]
    return "train_classifier", argv, ["--output", "is under a file"]


def _synthetic_output_is_a_file(env):
    path = env.tmp / "taken"
    path.write_text("x")
    return "prepare_synthetic_lvis", ["--output-dir", str(path)], ["--output-dir", "not a folder"]


CLI_CASES = [
    Case(
        "T18-classifier-iterations-zero",
        _cli("train_classifier", ["--iterations", "0"], "--iterations", "integer >= 1", "'0'"),
    ),
    Case("T19-classifier-lr-nan", _cli("train_classifier", ["--lr", "nan"], "--lr", "'nan'")),
    Case("T20-train-net-zero-processes", _cli("train_net", ["--num-gpus", "0"], "--num-gpus")),
    Case(
        "T21-train-net-machine-rank-out-of-range",
        _cli("train_net", ["--num-machines", "2", "--machine-rank", "2"], "--machine-rank"),
    ),
    Case("T22-demo-max-iter-zero", _cli("demo", ["--max-iter", "0"], "--max-iter")),
    Case(
        "T23-validator-cap-zero",
        _cli(
            "validate_submission", ["r.json", "i.json", "--max-dets-per-image", "0"], "--max-dets"
        ),
    ),
    Case(
        "T24-tail-ratio-lambda-inf",
        _cli("tail_ratio", ["--json", "x", "--lambdas", "inf"], "--lambdas"),
    ),
    Case("T25-long-tail-seeds-zero", _cli("long_tail", ["--seeds", "0"], "--seeds", "'0'")),
    Case(
        "T26-synthetic-set-without-images",
        _cli("prepare_synthetic_lvis", ["--num-train-images", "0"], "--num-train-images"),
    ),
    Case("T27-synthetic-output-dir-is-a-file", _synthetic_output_is_a_file),
    Case("T28-convert-onto-its-input", _convert_onto_itself),
    Case("T29-publish-name-is-a-path", _publish_name_a_path),
    Case("T30-zoo-entry-named-a-path", _zoo_entry_named_a_path),
    Case("T31-plot-onto-its-input", _plot_onto_its_input),
    Case("T32-classifier-output-under-a-file", _classifier_output_under_a_file),
    Case("T33-long-tail-schedule-zero", _cli("long_tail", ["--schedule", "0"], "--schedule")),
    Case(
        "T34-long-tail-schedule-twice", _cli("long_tail", ["--schedule", "2", "2x"], "--schedule")
    ),
    Case("T35-long-tail-jobs-zero", _cli("long_tail", ["--jobs", "0"], "--jobs")),
    Case(
        "T36-long-tail-schedule-with-max-iter",
        _cli("long_tail", ["--schedule", "2", "--max-iter", "5"], "--max-iter", "--schedule"),
    ),
    Case(
        "T37-long-tail-official-without-one",
        _cli("long_tail", ["--losses", "eql_official"], "--losses", "eql_official"),
    ),
    # numeric config keys (every key is walked by tests/test_config_keys.py; these were reported)
    Case("C32-batch-of-zero-images", _opts_case("SOLVER.IMS_PER_BATCH", "0", "IMS_PER_BATCH")),
    Case(
        "C33-nan-in-a-config-file",
        _opts_case("MODEL.EQL.SEESAW.Q", config_text="MODEL:\n  EQL:\n    SEESAW:\n      Q: .nan"),
    ),
    Case("C34-infinite-learning-rate", _opts_case("SOLVER.BASE_LR", "1e999", "SOLVER.BASE_LR")),
    Case(
        "C35-sampled-proposals-zero",
        _opts_case("MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "0", "BATCH_SIZE_PER_IMAGE"),
    ),
    Case("C36-image-size-zero", _opts_case("INPUT.MIN_SIZE_TRAIN", "(0,)", "MIN_SIZE_TRAIN")),
    Case(
        "C37-box-head-without-layers",
        _opts_case("MODEL.ROI_BOX_HEAD.NUM_FC", "0", "MODEL.ROI_BOX_HEAD.NUM_FC"),
    ),
    Case(
        "C38-iou-labels-of-another-length",
        _opts_case("MODEL.RPN.IOU_LABELS", "[0, 1]", "MODEL.RPN.IOU_LABELS"),
    ),
    Case("C39-eqlv2-mu-unchecked", _opts_case("MODEL.EQL.EQLV2.MU", "-0.5", "EQLV2.MU")),
    Case("C40-check-images-minus-two", _opts_case("DATASETS.CHECK_IMAGES", "-2", "CHECK_IMAGES")),
    Case("C41-gpu-this-machine-lacks", _opts_case("MODEL.DEVICE", "cuda:99", "MODEL.DEVICE")),
    Case(
        "C42-unregistered-meta-architecture",
        _opts_case("MODEL.META_ARCHITECTURE", "MaskRCNN", "MODEL.META_ARCHITECTURE"),
    ),
    Case("C43-unknown-norm", _opts_case("MODEL.RESNETS.NORM", "batchnorm", "MODEL.RESNETS.NORM")),
]
