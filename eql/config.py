"""eql's config keys, added to a detectron2 config by :func:`add_eql_config`."""

import os
import re
from typing import List

import yaml
from detectron2.config import CfgNode as CN
from detectron2.config import get_cfg

from .errors import ConfigError
from .modeling.heads import ROI_HEAD, head_description, loss_head_of
from .modeling.losses import CLASSIFICATION_LOSS_REGISTRY, check_head, get_loss_entry
from .utils.config_keys import Key, check_keys
from .utils.detectron2_keys import (
    DETECTRON2_CHOICE_KEYS,
    DETECTRON2_KEYS,
    check_detectron2_relations,
    check_registered_names,
)

# flat MODEL.EQL keys of eql 0.1, now in the node of the loss they belong to
MOVED_KEYS = {
    f"MODEL.EQL.{k}": f"MODEL.EQL.EQL.{k}"
    for k in (
        "LAMBDA",
        "TAIL_IMAGE_COUNT",
        "WEIGHT_FUNCTION",
        "GOMPERTZ_B",
        "GOMPERTZ_C",
        "USE_IMAGE_LEVEL_LABELS",
    )
}


# eql's keys outside the losses' own nodes: type, allowed values, default, meaning. The loss
# nodes' keys are declared by the losses (eql/modeling/losses, LossEntry.keys).
EQL_KEYS = (
    # MODEL.EQL.LOSS: its choices are the registered losses (checked with the head it is used in)
    Key(
        "MODEL.EQL.LOSS",
        str,
        doc="classification loss of eql's heads (README: the loss table): sigmoid_ce, eql, "
        "eqlv2, seesaw, seql in the ROI heads; focal, efl in EQLRetinaNet; softmax_ce, "
        "softmax_eql in EQLSemSegFPNHead",
        default="eql",
    ),
    Key(
        "MODEL.EQL.PRIOR_PROB",
        float,
        "[0, 1)",
        "initial probability of every class in the ROI box predictor (class biases start at "
        "-log((1 - p) / p), the official EQL code's 0.001); 0 keeps detectron2's zero bias; "
        "sigmoid losses only",
        default=0.001,
    ),
    Key(
        "MODEL.EQL.CLASSIFIER",
        str,
        ("linear", "cosine"),
        "classifier of the ROI box predictor: detectron2's linear one, or the scaled cosine of "
        "the normalised feature and class weights (the Seesaw loss's LVIS recipe)",
        default="linear",
    ),
    Key("MODEL.EQL.COSINE_SCALE", float, "> 0", "temperature of the cosine classifier", 20.0),
    Key(
        "MODEL.EQL.FREQUENCY_SOURCE",
        str,
        doc="where class frequencies come from: 'dataset' (statistics of DATASETS.TRAIN), a json "
        "file with 'categories' ([{id, image_count}]) and 'num_images_with_annotations', or "
        "'none' (a model for inference only, whose frequency-based loss refuses to train)",
        default="dataset",
    ),
    Key(
        "MODEL.EQL.GRADIENT_STATS.PERIOD",
        int,
        ">= 1",
        "iterations between writes of each class's accumulated positive / negative gradient of "
        "the classification loss to OUTPUT_DIR/gradient_stats.json (and at the end)",
        default=0,
        also=((0, "off"),),
    ),
    Key(
        "TEST.LVIS.MAX_DETS_PER_IMAGE",
        int,
        ">= 1",
        "LVIS evaluation's cap of detections per image, the top-scoring across classes (LVIS: 300)",
        default=300,
        also=((-1, "no cap"),),
    ),
    Key(
        "TEST.LVIS.ENGINE",
        str,
        ("faster_coco_eval", "lvis_api"),
        "LVIS evaluation engine; both give lvis-api's metrics (eql/evaluation/lvis_inputs.py)",
        default="faster_coco_eval",
    ),
    Key(
        "TEST.LVIS.AP_FIXED",
        bool,
        doc="also AP^Fixed and AP^Pool (Dave et al. 2021): detections capped per class over the "
        "dataset (sets TEST.DETECTIONS_PER_IMAGE to -1 in tools/train_net.py)",
        default=False,
    ),
    Key(
        "TEST.LVIS.DETS_PER_CLASS",
        int,
        ">= 1",
        "detections kept per class over the dataset for AP^Fixed (the paper's 10,000)",
        default=10000,
    ),
    Key(
        "TEST.LVIS.REPORTS",
        bool,
        doc="write per-category AP (CSV) and AP against class frequency (PNG)",
        default=True,
    ),
    Key(
        "DATASETS.CHECK_IMAGES",
        int,
        ">= 1",
        "image files of DATASETS.TRAIN and DATASETS.TEST checked at start-up (exist, are images "
        "of the json's size, complete; headers and last bytes read): a fixed sample of this many "
        "per set",
        default=-1,
        also=((-1, "every image"), (0, "none")),
    ),
    Key(
        "DATASETS.SYNTHETIC.ROOT",
        str,
        doc="folder of a generated long-tailed set (datasets/prepare_synthetic_lvis.py), "
        "registered as <PREFIX>_train / <PREFIX>_val; '' registers nothing",
        default="",
    ),
    Key(
        "DATASETS.SYNTHETIC.PREFIX", str, doc="name prefix of its splits", default="synthetic_lvis"
    ),
    Key(
        "DATASETS.SYNTHETIC_SEMSEG.ROOT",
        str,
        doc="folder of a generated segmentation set (eql/data/synthetic/semseg.py); '': none",
        default="",
    ),
    Key(
        "DATASETS.SYNTHETIC_SEMSEG.PREFIX",
        str,
        doc="name prefix of its splits",
        default="synthetic_semseg",
    ),
)


def add_eql_config(cfg):
    """Adds eql's keys (:data:`EQL_KEYS` and each loss's node) to ``cfg`` (a detectron2 CfgNode),
    in place."""
    for key in EQL_KEYS:
        *parents, leaf = key.name.split(".")
        node = cfg
        for part in parents:
            if part not in node:
                node[part] = CN()
            node = node[part]
        node[leaf] = key.default
    for name, entry in sorted(CLASSIFICATION_LOSS_REGISTRY):
        if entry.config_node:
            node = CN()
            entry.add_config(node)
            cfg.MODEL.EQL[entry.config_node] = node
    return cfg


def validate_eql_config(cfg) -> None:
    """Fails with a message naming the key when a key holds a value out of its declared rule
    (detectron2's keys a run reads, eql's keys, each loss's keys: eql/utils/config_keys.py), when
    the loss cannot work in the config's head, or when the config sets a detectron2 key that eql's
    heads do not honour."""
    eql = cfg.MODEL.EQL
    entry = get_loss_entry(eql.LOSS)
    check_keys(cfg, DETECTRON2_KEYS + DETECTRON2_CHOICE_KEYS)
    check_registered_names(cfg)
    check_detectron2_relations(cfg)
    check_keys(cfg, EQL_KEYS)
    for _, loss in CLASSIFICATION_LOSS_REGISTRY:
        loss.check_keys(cfg)
        loss.validate(cfg)
    head = loss_head_of(cfg)
    if head is not None:
        check_head(eql.LOSS, head, head_description(cfg, head))
    if head is not None and cfg.MODEL.ROI_BOX_HEAD.USE_FED_LOSS:
        usable = sorted(n for n, e in CLASSIFICATION_LOSS_REGISTRY if e.federated)
        if head != ROI_HEAD or not entry.federated:
            raise ConfigError(
                f"MODEL.ROI_BOX_HEAD.USE_FED_LOSS: the federated loss is not defined for "
                f"MODEL.EQL.LOSS {eql.LOSS!r} in this head; it works with {usable} in the ROI "
                "heads"
            )
    if eql.PRIOR_PROB > 0 and not entry.sigmoid and head == ROI_HEAD:
        raise ConfigError(
            f"MODEL.EQL.PRIOR_PROB: a prior probability is for sigmoid losses; set it to 0 with "
            f"MODEL.EQL.LOSS {eql.LOSS!r} (a softmax loss)"
        )
    if eql.CLASSIFIER != "linear" and head != ROI_HEAD:
        raise ConfigError("MODEL.EQL.CLASSIFIER: 'cosine' is for eql's ROI box predictor")
    period = eql.GRADIENT_STATS.PERIOD
    if period > 0 and not entry.sigmoid:
        raise ConfigError(
            f"MODEL.EQL.GRADIENT_STATS.PERIOD: gradient statistics are for sigmoid losses, not "
            f"{eql.LOSS!r}"
        )
    if period > 0 and head is None:
        raise ConfigError(
            "MODEL.EQL.GRADIENT_STATS.PERIOD: gradient statistics need an eql head "
            f"(EQLRetinaNet or eql's ROI heads); MODEL.ROI_HEADS.NAME is {cfg.MODEL.ROI_HEADS.NAME}"
        )
    src = eql.FREQUENCY_SOURCE
    if src not in ("dataset", "none") and not os.path.isfile(os.path.expanduser(src)):
        raise ConfigError(
            f"MODEL.EQL.FREQUENCY_SOURCE: 'dataset', 'none' or an existing json file, got {src!r}"
        )


def get_eql_cfg():
    """detectron2's default config plus eql's keys."""
    cfg = get_cfg()
    add_eql_config(cfg)
    return cfg


def load_config(config_file: str, opts=()):
    """A config from a yaml file (eql's or detectron2's) and ``KEY VALUE`` overrides. Every user
    error (file missing or not yaml, unknown or moved key, wrong type, bad value) is a ConfigError
    naming the file or key. An integer is accepted where a float is meant."""
    if not os.path.isfile(config_file):
        raise ConfigError(f"{config_file}: config file not found")
    cfg = get_eql_cfg()
    try:
        _merge_file(cfg, config_file)
    except yaml.YAMLError as e:
        raise ConfigError(f"{config_file}: not valid yaml ({str(e).splitlines()[0]})") from None
    except (KeyError, AssertionError, ValueError) as e:  # yacs: unknown key, type mismatch
        raise ConfigError(f"{config_file}: {_yacs_message(e)}") from None
    opts = list(opts)
    if len(opts) % 2:
        raise ConfigError(f"command-line overrides must be KEY VALUE pairs, got {opts}")
    try:
        cfg.merge_from_list(_floats_where_meant(cfg, opts))
    except (KeyError, AssertionError, ValueError) as e:
        raise ConfigError(f"command line: {_yacs_message(e)}") from None
    validate_eql_config(cfg)
    return cfg


def _merge_file(cfg, config_file: str) -> None:
    """detectron2's merge_from_file; a file of the current VERSION whose only problem is an
    integer where the config holds a float (``LAMBDA: 1``) is merged with that value as a
    float."""
    try:
        cfg.merge_from_file(config_file)
        return
    except ValueError as e:
        if "Type mismatch (<class 'float'> vs. <class 'int'>)" not in str(e):
            raise
    loaded = cfg.load_yaml_with_base(config_file, allow_unsafe=True)
    if loaded.get("VERSION", cfg.VERSION) != cfg.VERSION:
        cfg.merge_from_file(config_file)  # raises the original error
    _ints_to_floats(loaded, cfg)
    cfg.merge_from_other_cfg(type(cfg)(loaded))


def _ints_to_floats(loaded: dict, defaults) -> None:
    for key, value in loaded.items():
        default = defaults.get(key) if isinstance(defaults, dict) else None
        if isinstance(value, dict):
            _ints_to_floats(value, default)
        elif isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            loaded[key] = float(value)


def _yacs_message(error: Exception) -> str:
    message = str(error).strip("'\"")
    return moved_key_message(message) or message


def _floats_where_meant(cfg, opts: List[str]) -> List[str]:
    """KEY VALUE pairs with an integer VALUE written as a float where the config holds a float
    (yacs refuses ``MODEL.EQL.EQL.LAMBDA 1`` as an int)."""
    out = list(opts)
    for i in range(0, len(out), 2):
        node = cfg
        for part in out[i].split("."):
            node = node.get(part) if isinstance(node, dict) else None
        value = out[i + 1]
        if isinstance(node, float) and isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value):
            out[i + 1] = f"{value}.0"
    return out


def moved_key_message(error: str) -> str:
    """A hint for yacs's "Non-existent (config) key: K" error when eql moved K, else ""."""
    key = error.strip("'\"").rsplit("key: ", 1)[-1].strip()
    if key in MOVED_KEYS:
        return (
            f"{key} has moved to {MOVED_KEYS[key]} (each loss's keys are in its own node of "
            "MODEL.EQL)"
        )
    return ""
