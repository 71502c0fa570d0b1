"""MODEL.EQL.LOSS "eql": sigmoid Equalization Loss (Tan et al., CVPR 2020) in the ROI heads; its
keys are MODEL.EQL.EQL.*."""

import logging

import torch

from ...losses import SigmoidEQL, suppression_strength
from ...losses.suppression import SUPPRESSION_FUNCTIONS
from ...utils.config_keys import Key
from .federated import federated_sampler_from_config
from .registry import CLASSIFICATION_LOSS_REGISTRY, ROI_HEAD, LossEntry
from .statistics import train_set_image_counts

logger = logging.getLogger(__name__)


@CLASSIFICATION_LOSS_REGISTRY.register()
class SigmoidEQLEntry(LossEntry):
    name = "eql"
    config_node = "EQL"
    heads = (ROI_HEAD,)
    federated = True
    config_names = ("eql", "official_eql")
    summary = "w_ij = 1 - E(r_i) T(f_j) (1 - y_ij): tail negatives dropped for foreground rows"

    keys = (
        Key(
            "LAMBDA",
            float,
            "(0, 1]",
            "lambda: classes whose image frequency f_j (images with class j / annotated training "
            "images) is below it are tail classes; LVIS v1: 0.0011 (815 of 1,203), v0.5: 0.00177",
            default=0.0011,
        ),
        Key(
            "TAIL_IMAGE_COUNT",
            int,
            ">= 1",
            "a class is tail iff it is in fewer than this many training images (replaces LAMBDA "
            "by TAIL_IMAGE_COUNT / annotated training images)",
            default=0,
            also=((0, "use LAMBDA"),),
        ),
        Key(
            "WEIGHT_FUNCTION",
            str,
            tuple(sorted(SUPPRESSION_FUNCTIONS)),
            "suppression strength T(f) in [0, 1] of a class's negative gradients for foreground "
            "proposals: threshold (1 if f < lambda, the paper's), exponential or gompertz (smooth "
            "decays centred on lambda; eql/losses/suppression.py)",
            default="threshold",
        ),
        Key("GOMPERTZ_B", float, "> 0", "plateau of 1 - exp(-B exp(-C f / lambda))", default=20.0),
        Key("GOMPERTZ_C", float, "> 0", "steepness of the Gompertz form", default=3.3621),
        Key(
            "USE_IMAGE_LEVEL_LABELS",
            bool,
            doc="LVIS image-level rule (paper section 4.2): classes in a proposal's image's "
            "positive set or neg_category_ids keep weight 1; False reproduces the official code",
            default=True,
        ),
    )

    @classmethod
    def build(cls, cfg, num_classes):
        if cfg.MODEL.EQL.FREQUENCY_SOURCE == "none":
            return cls.inference_only(SigmoidEQL(torch.zeros(num_classes)))
        loss = SigmoidEQL(
            suppression_from_config(cfg, num_classes), cls.node(cfg).USE_IMAGE_LEVEL_LABELS
        )
        sampler = federated_sampler_from_config(cfg, num_classes)
        return loss.use_federated(sampler) if sampler is not None else loss


def eql_lambda(cfg, num_images: int) -> float:
    """lambda of MODEL.EQL.EQL: LAMBDA, or TAIL_IMAGE_COUNT / num_images when that is set (a class
    is then tail iff it is in fewer than TAIL_IMAGE_COUNT training images)."""
    node = cfg.MODEL.EQL.EQL
    if node.TAIL_IMAGE_COUNT > 0:
        return node.TAIL_IMAGE_COUNT / num_images
    return node.LAMBDA


def suppression_from_config(cfg, num_classes: int) -> torch.Tensor:
    """T(f_j) (C,) of MODEL.EQL.EQL on the training set; logs the tail it defines."""
    counts, num_images = train_set_image_counts(cfg, num_classes)
    lam = eql_lambda(cfg, num_images)
    freq = torch.tensor(counts, dtype=torch.float64) / num_images
    node = cfg.MODEL.EQL.EQL
    name = node.WEIGHT_FUNCTION
    params = {"b": node.GOMPERTZ_B, "c": node.GOMPERTZ_C} if name == "gompertz" else {}
    suppression = suppression_strength(freq, name, lam, **params)
    n = torch.tensor(counts, dtype=torch.float64)
    tail_ratio = float((suppression.double() * n).sum() / n.sum()) if n.sum() > 0 else 0.0
    num_tail = int((freq < lam).sum())
    logger.info(
        f"EQL: lambda = {lam:.6g} ({name}); {num_tail} of {len(counts)} classes have f < lambda; "
        f"tail ratio TR(lambda) = {tail_ratio:.4f} ({num_images} annotated training images)"
    )
    return suppression
