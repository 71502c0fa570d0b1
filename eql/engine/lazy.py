"""eql in detectron2's LazyConfig: the classification loss as an explicit ``L(...)`` call, and the
checked loading of a lazy config file.

    from eql.engine.lazy import classification_loss
    model.roi_heads.box_predictor.cls_loss = L(classification_loss)(
        name="eql", num_classes=1203, train_datasets=("lvis_v1_train",),
        keys={"MODEL.EQL.EQL.LAMBDA": 0.0011},
    )

The loss is built by the entry of its name (eql/modeling/losses), from a config made of eql's
defaults and ``keys`` and checked by the same rules as a yaml config (eql.config), so a lazy
config and its yaml twin build the same loss, and a bad value is refused naming its key.
"""

import os
from typing import Dict, Optional, Sequence

from detectron2.config import LazyConfig

from ..config import load_config, validate_eql_config
from ..errors import ConfigError
from ..model_zoo import config_path
from ..modeling.heads import DENSE_HEAD, HEAD_KINDS, ROI_HEAD, SEMSEG_HEAD
from ..modeling.losses import build_classification_loss

# the base config of eql's models with each head kind: the loss's config starts from it, so that
# the checks of a yaml config apply (where the loss works, the keys it reads)
HEAD_BASE_CONFIGS = {
    ROI_HEAD: "Base-EQL-RCNN-FPN.yaml",
    DENSE_HEAD: "Base-EQL-RetinaNet.yaml",
    SEMSEG_HEAD: "Base-EQL-SemSeg-FPN.yaml",
}
# the parts of a lazy config each tool needs
TRAINING_FIELDS = ("model", "dataloader", "train", "optimizer", "lr_multiplier")


def loss_config(
    name: str,
    num_classes: int,
    head: str = ROI_HEAD,
    train_datasets: Sequence[str] = (),
    frequency_source: str = "dataset",
    keys: Optional[Dict[str, object]] = None,
):
    """eql's config of a loss: the defaults, ``name`` in MODEL.EQL.LOSS, the class count in the
    head's NUM_CLASSES key, the training sets, and ``keys`` (full key -> value), checked."""
    if head not in HEAD_BASE_CONFIGS:
        raise ConfigError(f"head: one of {sorted(HEAD_BASE_CONFIGS)}, got {head!r}")
    # the loss is built on the CPU and moves with the model
    cfg = load_config(config_path(HEAD_BASE_CONFIGS[head]), ["MODEL.DEVICE", "cpu"])
    values = {
        "MODEL.EQL.LOSS": name,
        "MODEL.EQL.PRIOR_PROB": 0.0,  # the predictor's argument (prior_prob), not the loss's
        HEAD_KINDS[head].num_classes_key: num_classes,
        "MODEL.EQL.FREQUENCY_SOURCE": frequency_source,
        "DATASETS.TRAIN": tuple(train_datasets),
        **(keys or {}),
    }
    for key, value in values.items():
        *parents, leaf = key.split(".")
        node = cfg
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise ConfigError(f"keys: {key!r} is not a key of eql's config")
        default = node[leaf]
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        if default is not None and not isinstance(value, type(default)):
            raise ConfigError(
                f"{key}: a {type(default).__name__}, got {value!r} ({type(value).__name__})"
            )
        node[leaf] = value
    validate_eql_config(cfg)
    return cfg


def classification_loss(
    name: str,
    num_classes: int,
    head: str = ROI_HEAD,
    train_datasets: Sequence[str] = (),
    frequency_source: str = "dataset",
    keys: Optional[Dict[str, object]] = None,
):
    """The classification loss ``name`` (a MODEL.EQL.LOSS value) of ``num_classes`` classes for
    ``head`` ("roi", "dense" or "semseg"), as MODEL.EQL.LOSS builds it: class statistics from
    ``train_datasets`` (registered detectron2 datasets) or ``frequency_source`` (a category-count
    json; "none": a model for inference only), the loss's keys from ``keys``
    (e.g. {"MODEL.EQL.EQL.LAMBDA": 0.0011, "MODEL.ROI_BOX_HEAD.USE_FED_LOSS": True})."""
    cfg = loss_config(name, num_classes, head, train_datasets, frequency_source, keys)
    return build_classification_loss(cfg, head, num_classes)


def load_lazy_config(path: str, opts: Sequence[str] = (), fields=TRAINING_FIELDS):
    """A detectron2 LazyConfig from ``path`` with ``key=value`` overrides; ConfigError naming the
    file (missing, not python, failing) or the missing field."""
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: config file not found")
    if not path.endswith(".py"):
        raise ConfigError(f"{path}: a LazyConfig is a python file (.py)")
    try:
        cfg = LazyConfig.load(path)
    except SyntaxError as e:
        raise ConfigError(f"{path}: not valid python (line {e.lineno}: {e.msg})") from None
    except Exception as e:  # the file's own code failed
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ConfigError(f"{path}: cannot be loaded ({type(e).__name__}: {first})") from None
    missing = [f for f in fields if f not in cfg]
    if missing:
        raise ConfigError(
            f"{path}: no {', '.join(repr(f) for f in missing)} in the config (a LazyConfig for "
            f"training defines {', '.join(fields)})"
        )
    bad = [o for o in opts if "=" not in o]
    if bad:
        raise ConfigError(f"command-line overrides are key=value, got {bad[0]!r}")
    try:
        cfg = LazyConfig.apply_overrides(cfg, list(opts))
    except Exception as e:
        raise ConfigError(f"command line: {str(e).strip().splitlines()[0]}") from None
    return cfg
