"""eql's config keys, added to a detectron2 config by :func:`add_eql_config`."""

import os

from detectron2.config import CfgNode as CN

# configs/ of a source checkout (the folder next to the package)
REPO_CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


EQL_LOSSES = ("eql", "sigmoid_ce")
WEIGHT_FUNCTIONS = ("threshold", "exponential", "gompertz")


def add_eql_config(cfg):
    """Adds eql's keys to ``cfg`` (a detectron2 CfgNode), in place."""
    _C = cfg
    _C.MODEL.EQL = CN()
    # Classification loss of the box predictor (EQLStandardROIHeads / EQLCascadeROIHeads):
    # "eql" (sigmoid Equalization Loss) or "sigmoid_ce" (the sigmoid cross-entropy baseline).
    _C.MODEL.EQL.LOSS = "eql"
    # lambda: classes whose image frequency f_j (images with class j / annotated training images)
    # is below it are tail classes. LVIS v1: 0.0011 (815 of 1,203); v0.5: 0.00177 (915 of 1,230).
    _C.MODEL.EQL.LAMBDA = 0.0011
    # If > 0, a class is tail iff it is in fewer than this many training images (replaces LAMBDA
    # by TAIL_IMAGE_COUNT / number of annotated training images).
    _C.MODEL.EQL.TAIL_IMAGE_COUNT = 0
    # Suppression strength T(f) in [0, 1] of a class's negative gradients for foreground
    # proposals: "threshold" (1 if f < lambda, the paper's), "exponential" or "gompertz"
    # (smooth decays centred on lambda; exact forms in eql/losses/suppression.py).
    _C.MODEL.EQL.WEIGHT_FUNCTION = "threshold"
    # Gompertz form T(f) = 1 - exp(-B exp(-C f / lambda)): plateau and steepness (T(lambda)=1/2).
    _C.MODEL.EQL.GOMPERTZ_B = 20.0
    _C.MODEL.EQL.GOMPERTZ_C = 3.3621
    # Initial probability of every class: the classification bias starts at -log((1 - p) / p),
    # as in the official EQL code (0.001); 0 keeps detectron2's zero bias.
    _C.MODEL.EQL.PRIOR_PROB = 0.001
    # LVIS image-level rule (paper section 4.2): classes in a proposal's image's positive set or
    # neg_category_ids keep weight 1. False reproduces the official code (no such rule).
    _C.MODEL.EQL.USE_IMAGE_LEVEL_LABELS = True
    # Where f_j comes from: "dataset" (statistics of DATASETS.TRAIN: detectron2's shipped counts
    # for lvis_v1_train, else computed from the json) or a json file with "categories"
    # ([{"id", "image_count"}]) and "num_images_with_annotations"; "none" builds a model for
    # inference only (the model zoo does this), whose EQL loss refuses to train.
    _C.MODEL.EQL.FREQUENCY_SOURCE = "dataset"
    # LVIS evaluation.
    _C.TEST.LVIS = CN()
    # Cap of detections per image in LVIS evaluation (lvis-api keeps the top-scoring ones
    # across classes); LVIS's protocol uses 300.
    _C.TEST.LVIS.MAX_DETS_PER_IMAGE = 300
    # Evaluation engine: "faster_coco_eval" (C++, LVIS mode) or "lvis_api" (the reference);
    # both give the same metrics.
    _C.TEST.LVIS.ENGINE = "faster_coco_eval"
    # Also compute AP^Fixed and AP^Pool (Dave et al. 2021): detections capped per class over the
    # dataset instead of per image. Sets TEST.DETECTIONS_PER_IMAGE to -1 (keep all) in
    # tools/train_net.py, and the results file keeps DETS_PER_CLASS detections per class.
    _C.TEST.LVIS.AP_FIXED = False
    # Detections kept per class over the dataset for AP^Fixed (the paper's 10,000).
    _C.TEST.LVIS.DETS_PER_CLASS = 10000
    # Write per-category AP (CSV) and AP against class frequency (PNG) next to the results.
    _C.TEST.LVIS.REPORTS = True
    # Synthetic long-tailed dataset, registered as "<PREFIX>_train"/"<PREFIX>_val" when ROOT is
    # set (written by datasets/prepare_synthetic_lvis.py or the demo).
    _C.DATASETS.SYNTHETIC = CN()
    # Folder of the synthetic set; "" registers nothing beyond the default set under
    # $DETECTRON2_DATASETS/synthetic_lvis.
    _C.DATASETS.SYNTHETIC.ROOT = ""
    # Name prefix of the registered splits.
    _C.DATASETS.SYNTHETIC.PREFIX = "synthetic_lvis"
    return cfg


def validate_eql_config(cfg) -> None:
    """Fails with a message naming the key when MODEL.EQL holds an unknown name or a value out of
    range."""
    eql = cfg.MODEL.EQL

    def fail(key, msg):
        raise ValueError(f"MODEL.EQL.{key}: {msg}")

    if eql.LOSS not in EQL_LOSSES:
        fail("LOSS", f"unknown loss {eql.LOSS!r}; choose one of {list(EQL_LOSSES)}")
    if eql.WEIGHT_FUNCTION not in WEIGHT_FUNCTIONS:
        fail(
            "WEIGHT_FUNCTION",
            f"unknown function {eql.WEIGHT_FUNCTION!r}; choose one of {list(WEIGHT_FUNCTIONS)}",
        )
    if not 0 < eql.LAMBDA <= 1:
        fail("LAMBDA", f"must be in (0, 1], got {eql.LAMBDA}")
    if eql.TAIL_IMAGE_COUNT < 0 or int(eql.TAIL_IMAGE_COUNT) != eql.TAIL_IMAGE_COUNT:
        fail("TAIL_IMAGE_COUNT", f"must be an integer >= 0, got {eql.TAIL_IMAGE_COUNT}")
    if not 0 <= eql.PRIOR_PROB < 1:
        fail("PRIOR_PROB", f"must be in [0, 1), got {eql.PRIOR_PROB}")
    if eql.GOMPERTZ_B <= 0 or eql.GOMPERTZ_C <= 0:
        fail(
            "GOMPERTZ_B",
            f"GOMPERTZ_B and GOMPERTZ_C must be > 0, got {eql.GOMPERTZ_B}, " f"{eql.GOMPERTZ_C}",
        )
    if not isinstance(eql.USE_IMAGE_LEVEL_LABELS, bool):
        fail("USE_IMAGE_LEVEL_LABELS", f"must be True or False, got {eql.USE_IMAGE_LEVEL_LABELS!r}")
    if cfg.TEST.LVIS.ENGINE not in ("faster_coco_eval", "lvis_api"):
        raise ValueError(
            f"TEST.LVIS.ENGINE: unknown engine {cfg.TEST.LVIS.ENGINE!r}; choose "
            "'faster_coco_eval' or 'lvis_api'"
        )
    src = eql.FREQUENCY_SOURCE
    if src not in ("dataset", "none") and not os.path.isfile(os.path.expanduser(src)):
        fail("FREQUENCY_SOURCE", f"'dataset', 'none' or an existing json file, got {src!r}")


def repo_config_path(relative: str) -> str:
    """Absolute path of a config of the repository's configs/ folder (needs a source checkout)."""
    path = os.path.join(REPO_CONFIGS, relative)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"config {relative} not found under {REPO_CONFIGS}: the model zoo's configs come with "
            "a source checkout of eql (git clone ... && pip install -e .)"
        )
    return path


def detectron2_configs_dir() -> str:
    """The folder of detectron2's own config files (shipped in ``detectron2/model_zoo/configs``)."""
    import detectron2.model_zoo

    path = os.path.join(os.path.dirname(detectron2.model_zoo.__file__), "configs")
    if not os.path.isdir(os.path.join(path, "LVISv1-InstanceSegmentation")):
        raise FileNotFoundError(
            f"detectron2's config files are not in {path}: reinstall detectron2 (pip install "
            "'git+https://github.com/facebookresearch/detectron2.git')"
        )
    return path


def link_detectron2_configs(configs_root: str = REPO_CONFIGS) -> str:
    """Points ``configs/detectron2`` at detectron2's installed config files, so that eql's
    configs inherit them with a plain relative ``_BASE_`` (``../detectron2/Base-RCNN-FPN.yaml``)
    and load with detectron2's own ``merge_from_file``. Returns the link's path."""
    link = os.path.join(configs_root, "detectron2")
    target = detectron2_configs_dir()
    if os.path.islink(link) and os.readlink(link) == target:
        return link
    if os.path.lexists(link):
        if not os.path.islink(link):
            raise FileExistsError(f"{link} exists and is not a symlink; remove it")
        os.remove(link)
    os.symlink(target, link)
    return link


def get_eql_cfg():
    """detectron2's default config plus eql's keys."""
    from detectron2.config import get_cfg

    cfg = get_cfg()
    add_eql_config(cfg)
    return cfg


def load_config(config_file: str, opts=()):
    """A config from a yaml file (eql's or detectron2's) and ``KEY VALUE`` overrides."""
    if os.path.abspath(config_file).startswith(os.path.abspath(REPO_CONFIGS)):
        link_detectron2_configs()
    cfg = get_eql_cfg()
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    validate_eql_config(cfg)
    return cfg
