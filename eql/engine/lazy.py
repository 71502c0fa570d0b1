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

import copy
import os
from types import SimpleNamespace
from typing import Dict, Iterator, Optional, Sequence, Tuple

from detectron2.config import LazyConfig, instantiate
from detectron2.data import get_detection_dataset_dicts
from omegaconf import OmegaConf

from ..config import load_config, validate_eql_config
from ..errors import ConfigError
from ..model_zoo import config_path, get_entry
from ..modeling.heads import DENSE_HEAD, HEAD_KINDS, ROI_HEAD, SEMSEG_HEAD
from ..modeling.losses import build_classification_loss
from .output_dir import meta_checkpoint_bytes
from .validation import check_checkpoint_file, check_dataset_files, check_resume, dataset_categories

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


def loss_calls(node, path: str = "model") -> Iterator[Tuple[str, object]]:
    """Every ``L(classification_loss)(...)`` under a lazy config node, with its dotted path."""
    if OmegaConf.is_dict(node) or isinstance(node, dict):
        if node.get("_target_") is classification_loss:
            yield path, node
        for key in node:
            yield from loss_calls(node[key], f"{path}.{key}")
    elif OmegaConf.is_list(node) or isinstance(node, (list, tuple)):
        for k, sub in enumerate(node):
            yield from loss_calls(sub, f"{path}[{k}]")


def check_lazy_inputs(cfg, eval_only: bool = False) -> None:
    """What a lazy run reads, checked before anything starts (ConfigError naming the field): each
    loss call's arguments by the rules of MODEL.EQL.LOSS; the datasets of ``dataloader.train``
    (training) and ``dataloader.test`` registered, their jsons valid, their class count the
    losses', their image files (eql/engine/validation.py)."""
    num_classes = None
    for path, call in loss_calls(cfg.model):
        args = {k: call[k] for k in call if k != "_target_"}
        try:
            loss_config(**args)
        except TypeError as e:
            raise ConfigError(f"{path}: {e}") from None
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
        num_classes = args.get("num_classes")
    for part, training in (("train", True), ("test", False)):
        loader = cfg.dataloader.get(part)
        if loader is None or (training and eval_only):
            continue
        dataset = loader.get("dataset")
        if dataset is None or dataset.get("_target_") is not get_detection_dataset_dicts:
            continue
        field = f"dataloader.{part}.dataset.names"
        names = [dataset.names] if isinstance(dataset.names, str) else list(dataset.names)
        mapper = loader.get("mapper") or {}
        reads = SimpleNamespace(
            MODEL=SimpleNamespace(MASK_ON=bool(mapper.get("use_instance_mask", False))),
            INPUT=SimpleNamespace(MASK_FORMAT=mapper.get("instance_mask_format", "polygon")),
            DATASETS=SimpleNamespace(CHECK_IMAGES=-1),
        )
        for name in names:
            cats = dataset_categories(name, field, training)
            if cats is not None and num_classes is not None and len(cats) != num_classes:
                raise ConfigError(
                    f"{field}: dataset '{name}' has {len(cats)} categories, the model's loss "
                    f"{num_classes}"
                )
            check_dataset_files(reads, name, field, training)


def check_lazy_weights(cfg, eval_only: bool, resume: bool, allow_random_weights: bool) -> None:
    """train.init_checkpoint: a readable checkpoint file, a known eql:// name, a URL (fetched when
    loaded); empty with --eval-only only with ``allow_random_weights``. With --resume, the run's
    last checkpoint (named in its folder) is checked instead when there is one."""
    if resume and check_resume(SimpleNamespace(OUTPUT_DIR=cfg.train.output_dir)):
        return
    weights = cfg.train.init_checkpoint
    if not weights:
        if eval_only and not allow_random_weights:
            raise ConfigError(
                "train.init_checkpoint: empty for --eval-only: the metrics would be those of a "
                "randomly initialised model (pass --allow-random-weights to do that on purpose)"
            )
    elif weights.startswith("eql://"):
        get_entry(weights[len("eql://") :])
    elif "://" not in weights:
        check_checkpoint_file(weights, "train.init_checkpoint")


def estimated_lazy_checkpoint_bytes(cfg) -> Optional[int]:
    """Bytes of a training checkpoint of the lazy config's model, built on the meta device with
    the plain loss of each head (as :func:`eql.engine.output_dir.estimated_checkpoint_bytes`: the
    losses' statistics need data and values the meta device does not have); None where the model
    cannot be built there."""
    model_cfg = copy.deepcopy(cfg.model)
    for _, call in loss_calls(model_cfg):
        call.name = HEAD_KINDS[call.get("head", ROI_HEAD)].baseline
        call.frequency_source, call.train_datasets, call.keys = "none", (), {}
    return meta_checkpoint_bytes(lambda: instantiate(model_cfg))
