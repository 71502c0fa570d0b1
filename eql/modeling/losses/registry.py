"""The registry of classification losses: ``MODEL.EQL.LOSS`` names one entry.

A loss's entry is the file of its name in this package (found and imported by
``eql/modeling/losses/__init__.py``): a :class:`LossEntry` subclass registered with
``@CLASSIFICATION_LOSS_REGISTRY.register()``, which names the loss, declares where it works and
its config keys (the node ``MODEL.EQL.<config_node>``: type, allowed values, default, meaning)
and builds the pure-torch loss module, the class registered under the same name in eql/losses
(``@register_loss``), from which the entry takes what the loss is (``sigmoid``). The config node
and the checks of the keys' values are made from ``keys``. docs/adding_a_loss.md walks through it.
"""

import logging
from typing import List, Tuple

from detectron2.utils.registry import Registry

from ...errors import ConfigError
from ...losses import LOSSES, ClassificationLoss
from ...utils.config_keys import Key, check_keys
from ..heads import DENSE_HEAD, HEAD_KINDS, ROI_HEAD, SEMSEG_HEAD  # noqa: F401  (re-exported)

logger = logging.getLogger(__name__)


class LossEntry:
    """A registered classification loss. Subclasses set the class attributes and implement
    :meth:`build`. A loss with config keys declares them in ``keys`` (:class:`Key`: name, type,
    allowed values, default, what it is), from which its node ``MODEL.EQL.<config_node>`` and the
    checks of its values are made; :meth:`validate` adds checks that involve other keys."""

    name: str = ""  # the value of MODEL.EQL.LOSS, the name of its loss class in eql.losses
    config_node: str = ""  # its keys live in MODEL.EQL.<config_node>; "" when it has none
    keys: Tuple[Key, ...] = ()  # its keys, names relative to the node
    heads: Tuple[str, ...] = ()  # ROI_HEAD, DENSE_HEAD and / or SEMSEG_HEAD
    federated: bool = False  # works with detectron2's MODEL.ROI_BOX_HEAD.USE_FED_LOSS
    # (full key, value) of its published recipe that differ from eql's defaults: its configs set
    # them (tests/test_configs.py) and so does the long-tail benchmark
    recipe: Tuple[Tuple[str, object], ...] = ()
    # the names its config files in configs/ start with (default: its name)
    config_names: Tuple[str, ...] = ()
    summary: str = ""  # one line for listings
    # set when registered, from the loss class of the same name (eql.losses.LOSSES)
    loss_class: type = ClassificationLoss
    sigmoid: bool = True  # per-class sigmoid scores (False: a softmax)

    @classmethod
    def add_config(cls, node) -> None:
        """Adds the loss's keys with their defaults to ``node`` (MODEL.EQL.<config_node>)."""
        for key in cls.keys:
            node[key.name] = key.default

    @classmethod
    def check_keys(cls, cfg) -> None:
        """Raises ConfigError naming the key when one of the loss's keys breaks its rule."""
        if cls.config_node:
            check_keys(cfg, cls.keys, prefix=f"MODEL.EQL.{cls.config_node}.")

    @classmethod
    def validate(cls, cfg) -> None:
        """Checks that involve other keys than the loss's own (raises ConfigError)."""

    @classmethod
    def build(cls, cfg, num_classes: int) -> ClassificationLoss:
        raise NotImplementedError

    @classmethod
    def inference_only(cls, scoring: ClassificationLoss) -> "InferenceOnlyLoss":
        """The stand-in of a loss that needs training statistics, in a model built for inference
        (MODEL.EQL.FREQUENCY_SOURCE 'none'): scores like ``scoring``, fails if trained."""
        return InferenceOnlyLoss(scoring, INFERENCE_ONLY.format(cls.name))

    @classmethod
    def key(cls, name: str) -> str:
        """The full name of one of the loss's keys."""
        return f"MODEL.EQL.{cls.config_node}.{name}"

    @classmethod
    def node(cls, cfg):
        return cfg.MODEL.EQL[cls.config_node]


class LossRegistry(Registry):
    """detectron2's Registry, keyed by each entry's ``name`` (the MODEL.EQL.LOSS value)."""

    def _do_register(self, name, obj) -> None:
        if not getattr(obj, "name", ""):
            raise ValueError(f"{obj!r} has no loss name")
        if obj.name not in LOSSES:
            raise ValueError(
                f"{obj.__qualname__}: no loss class named {obj.name!r} in eql.losses; register "
                f"it with @register_loss({obj.name!r}) and import it before its entry"
            )
        if "sigmoid" in vars(obj) or "loss_class" in vars(obj):
            raise ValueError(f"{obj.__qualname__}: 'sigmoid' comes from the loss class")
        obj.loss_class = LOSSES[obj.name]
        obj.sigmoid = obj.loss_class.sigmoid
        if not obj.config_names:
            obj.config_names = (obj.name,)
        super()._do_register(obj.name, obj)

    def names(self) -> List[str]:
        return sorted(name for name, _ in self)


CLASSIFICATION_LOSS_REGISTRY = LossRegistry("CLASSIFICATION_LOSS")
CLASSIFICATION_LOSS_REGISTRY.__doc__ = """Classification losses selected by MODEL.EQL.LOSS."""


def get_loss_entry(name: str) -> type:
    """The entry registered as ``name``; ValueError naming MODEL.EQL.LOSS otherwise."""
    if name not in CLASSIFICATION_LOSS_REGISTRY:
        raise ConfigError(
            f"MODEL.EQL.LOSS: unknown loss {name!r}; choose one of "
            f"{CLASSIFICATION_LOSS_REGISTRY.names()}"
        )
    return CLASSIFICATION_LOSS_REGISTRY.get(name)


def check_head(name: str, head: str, where: str) -> None:
    """ValueError naming MODEL.EQL.LOSS when the loss cannot be used in ``head``."""
    entry = get_loss_entry(name)
    if head not in entry.heads:
        usable = sorted(n for n, e in CLASSIFICATION_LOSS_REGISTRY if head in e.heads)
        raise ConfigError(
            f"MODEL.EQL.LOSS: {name!r} cannot be used in {where} (it works in: "
            f"{', '.join(entry.heads)} heads); losses for {where}: {usable}"
        )


class InferenceOnlyLoss(ClassificationLoss):
    """Stands in for a loss that cannot be built without training statistics (a model built for
    inference, MODEL.EQL.FREQUENCY_SOURCE 'none'): reads and scores logits like ``scoring`` (the
    loss with neutral statistics), fails if trained."""

    def __init__(self, scoring: ClassificationLoss, reason: str):
        super().__init__(scoring.num_classes)
        self.scoring = scoring
        self.num_extra_logits = scoring.num_extra_logits
        self.sigmoid = scoring.sigmoid
        self.reason = reason

    def forward(self, logits, gt_classes, context=None):
        raise RuntimeError(self.reason)

    def probabilities(self, logits):
        return self.scoring.probabilities(logits)


INFERENCE_ONLY = (
    "MODEL.EQL.FREQUENCY_SOURCE is 'none' (a model built for inference): set it to 'dataset' or "
    "a category-count json to train with MODEL.EQL.LOSS {!r}"
)


def build_classification_loss(cfg, head: str, num_classes: int) -> ClassificationLoss:
    """The loss named by MODEL.EQL.LOSS for ``head`` (ROI_HEAD, DENSE_HEAD or SEMSEG_HEAD), with
    gradient recording when MODEL.EQL.GRADIENT_STATS.PERIOD > 0. The loss's own keys are checked
    here; the whole config is checked once, when it is loaded (eql.config.load_config)."""
    kind = HEAD_KINDS[head]
    check_head(cfg.MODEL.EQL.LOSS, head, kind.where)
    entry = get_loss_entry(cfg.MODEL.EQL.LOSS)
    entry.check_keys(cfg)
    logger.info(f"Classification loss {entry.name!r} in the {kind.where}: {entry.summary}")
    loss = entry.build(cfg, num_classes)
    if cfg.MODEL.EQL.GRADIENT_STATS.PERIOD > 0:
        loss.record_gradients()
    return loss
