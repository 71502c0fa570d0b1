"""The kinds of eql heads, and the one rule for a config's head kind and class count.

Each eql head class declares its kind in the class attribute ``eql_head`` (subclasses inherit it):
:class:`EQLROIHeadsMixin` ``ROI_HEAD``, :class:`EQLRetinaNet` ``DENSE_HEAD``,
:class:`EQLSemSegFPNHead` ``SEMSEG_HEAD``. A config's kind is read from the classes its names
select in detectron2's registries, so a user's subclass of an eql head is recognised without being
listed anywhere.
"""

from typing import NamedTuple, Optional

from detectron2.modeling import META_ARCH_REGISTRY, ROI_HEADS_REGISTRY, SEM_SEG_HEADS_REGISTRY
from detectron2.modeling.meta_arch.retinanet import RetinaNet
from detectron2.modeling.meta_arch.semantic_seg import SemanticSegmentor

from ..utils.config_keys import config_value

ROI_HEAD = "roi"  # the box predictor of eql's ROI heads (EQLStandardROIHeads, EQLCascadeROIHeads)
DENSE_HEAD = "dense"  # the classification subnet of EQLRetinaNet
SEMSEG_HEAD = "semseg"  # the per-pixel classifier of EQLSemSegFPNHead


class HeadKind(NamedTuple):
    where: str  # how messages name it
    num_classes_key: str  # the key holding the model's class count
    baseline: str  # the plain loss of such a head (MODEL.EQL.LOSS)


HEAD_KINDS = {
    ROI_HEAD: HeadKind("ROI heads", "MODEL.ROI_HEADS.NUM_CLASSES", "sigmoid_ce"),
    DENSE_HEAD: HeadKind("RetinaNet", "MODEL.RETINANET.NUM_CLASSES", "focal"),
    SEMSEG_HEAD: HeadKind("EQLSemSegFPNHead", "MODEL.SEM_SEG_HEAD.NUM_CLASSES", "softmax_ce"),
}


def _registered(registry, name: str) -> Optional[type]:
    return registry.get(name) if name in registry else None


def _arch(cfg) -> Optional[type]:
    return _registered(META_ARCH_REGISTRY, cfg.MODEL.META_ARCHITECTURE)


def _head_class(cfg) -> Optional[type]:
    """The class whose ``eql_head`` decides: the meta-architecture's own, else its segmentation
    head (semantic segmentors) or its ROI heads (every other architecture)."""
    arch = _arch(cfg)
    if arch is not None and getattr(arch, "eql_head", None):
        return arch
    if arch is not None and issubclass(arch, SemanticSegmentor):
        return _registered(SEM_SEG_HEADS_REGISTRY, cfg.MODEL.SEM_SEG_HEAD.NAME)
    return _registered(ROI_HEADS_REGISTRY, cfg.MODEL.ROI_HEADS.NAME)


def loss_head_of(cfg) -> Optional[str]:
    """Where MODEL.EQL.LOSS is used by this config: ROI_HEAD, DENSE_HEAD, SEMSEG_HEAD, or None
    (the model has no eql head)."""
    return getattr(_head_class(cfg), "eql_head", None)


def model_head_kind(cfg) -> str:
    """The kind of the model's classifier, eql's or not: the eql head's, else DENSE_HEAD for a
    RetinaNet, SEMSEG_HEAD for a semantic segmentor, ROI_HEAD otherwise."""
    kind = loss_head_of(cfg)
    if kind is not None:
        return kind
    arch = _arch(cfg)
    if arch is not None and issubclass(arch, RetinaNet):
        return DENSE_HEAD
    if arch is not None and issubclass(arch, SemanticSegmentor):
        return SEMSEG_HEAD
    return ROI_HEAD


def num_classes_key(cfg) -> str:
    """The key holding the class count of ``cfg``'s model."""
    return HEAD_KINDS[model_head_kind(cfg)].num_classes_key


def model_num_classes(cfg) -> int:
    """The class count of ``cfg``'s model."""
    return config_value(cfg, num_classes_key(cfg))


def head_description(cfg, kind: str) -> str:
    """How messages name the head of ``kind`` in ``cfg``."""
    return {
        ROI_HEAD: f"the ROI heads {cfg.MODEL.ROI_HEADS.NAME}",
        DENSE_HEAD: f"the meta-architecture {cfg.MODEL.META_ARCHITECTURE}",
        SEMSEG_HEAD: f"the segmentation head {cfg.MODEL.SEM_SEG_HEAD.NAME}",
    }[kind]
