"""Robustness cases (tests/robustness/test_robustness.py): bad config keys, values and files, and
bad category-count files (MODEL.EQL.FREQUENCY_SOURCE)."""

import json

from common import Case

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


def counts_json(n=24, images=100, **override):
    cats = [{"id": j + 1, "image_count": 5} for j in range(n)]
    data = {"categories": cats, "num_images_with_annotations": images}
    data.update(override)
    return data


COUNT_CASES = [
    Case("K01-counts-not-json", _counts_case("{oops", "not valid json")),
    Case(
        "K02-category-without-image-count",
        _counts_case(counts_json(categories=[{"id": 1}] * 24), "categories[0]", "'image_count'"),
    ),
    Case(
        "K03-negative-image-count",
        _counts_case(
            counts_json(categories=[{"id": j + 1, "image_count": -1} for j in range(24)]),
            "'image_count'",
        ),
    ),
    Case(
        "K04-zero-annotated-images",
        _counts_case(counts_json(images=0), "'num_images_with_annotations'"),
    ),
    Case(
        "K05-missing-annotated-images",
        _counts_case({"categories": counts_json()["categories"]}, "'num_images_with_annotations'"),
    ),
    Case("K06-class-count-differs", _counts_case(counts_json(n=10), "10 classes")),
    Case(
        "K07-duplicate-category-ids",
        _counts_case(counts_json(categories=[{"id": 1, "image_count": 5}] * 24), "duplicate ids"),
    ),
]
