"""What the long-tail benchmark trains (:mod:`eql.benchmark.long_tail_sweep`): its set sizes
with their configs, and each loss variant's config options, with LVIS's settings kept as counts
(EQL's tail, the RFS threshold in images, the federated loss's share of the classes)."""

import os
from dataclasses import dataclass, replace
from typing import Dict, List

from ..config import load_config
from ..errors import UserError
from ..modeling.losses import CLASSIFICATION_LOSS_REGISTRY, ROI_HEAD

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class SweepError(UserError):
    """A sweep cannot go on (settings changed, a run failed); the message names the file or key."""


@dataclass(frozen=True)
class SetSize:
    """One size of the benchmark: the generated set and the config trained on it."""

    config: str  # relative to the repository
    num_classes: int
    num_train_images: int
    num_val_images: int
    image_size: int
    max_images_per_class: int  # the most frequent class's training images (LVIS profile)
    data_seed: int = 0
    # val draws every class alike: a rare class's AP is measured on as many instances as a
    # frequent one's (~19 for the smoke size), not on the ~7 that sqrt(training count) gives it
    val_class_weights: str = "uniform"

    def data_params(self) -> Dict:
        """The set's parameters: generate_synthetic_lvis's keyword arguments (also params.json)."""
        return {
            "num_classes": self.num_classes,
            "num_train_images": self.num_train_images,
            "num_val_images": self.num_val_images,
            "image_size": self.image_size,
            "max_images_per_class": self.max_images_per_class,
            "seed": self.data_seed,
            "profile": "lvis",
            "val_class_weights": self.val_class_weights,
        }


# The benchmark's sizes (benchmarks/long_tail.py --size; tools/demo.py trains the demo size).
# 50 classes: 14 rare, 19 common, 17 frequent (2,986 class-images over 3 objects an image need
# >= 996 images); ~2 minutes a run on 2 CPU cores
SMOKE = SetSize(
    config="configs/LongTail-Synthetic/smoke_faster_rcnn_R_18_FPN.yaml",
    num_classes=50,
    num_train_images=1000,
    num_val_images=400,
    image_size=64,
    max_images_per_class=150,
)
SIZES = {
    "smoke": SMOKE,
    # the same set, trained twice as long (~4 minutes a run)
    "demo": replace(SMOKE, config="configs/LongTail-Synthetic/demo_faster_rcnn_R_18_FPN.yaml"),
    # 300 classes: 84 rare, 115 common, 101 frequent (38,030 class-images: >= 12,677 images)
    "gpu": SetSize(
        config="configs/LongTail-Synthetic/gpu_mask_rcnn_R_50_FPN.yaml",
        num_classes=300,
        num_train_images=13000,
        num_val_images=2000,
        image_size=192,
        max_images_per_class=600,
    ),
}

# detectron2's own softmax predictor, the baseline that is not an eql loss
DETECTRON2_BASELINES: Dict[str, List[str]] = {
    "softmax_ce": [
        "MODEL.ROI_HEADS.NAME",
        "StandardROIHeads",
        "MODEL.ROI_BOX_HEAD.USE_SIGMOID_CE",
        "False",
    ],
}


def loss_opts() -> Dict[str, List[str]]:
    """Config options of each loss label over the size's config (label -> opts), from the loss
    registry: every loss of the ROI heads with its recipe (eql/modeling/losses/registry.py), with
    "_fed" the federated loss for those that take it, and detectron2's softmax baseline. The
    labels are the ones eql.benchmark.run_summary reads back from a run's config.yaml."""
    opts = {}
    for name, entry in sorted(CLASSIFICATION_LOSS_REGISTRY):
        if ROI_HEAD not in entry.heads:
            continue
        opts[name] = ["MODEL.EQL.LOSS", name]
        opts[name] += [item for key, value in entry.recipe for item in (key, str(value))]
        if entry.federated:
            opts[f"{name}_fed"] = opts[name] + ["MODEL.ROI_BOX_HEAD.USE_FED_LOSS", "True"]
    opts.update(DETECTRON2_BASELINES)
    return opts


def records_gradients(label: str) -> bool:
    """Whether the label's loss records gradient statistics (the sigmoid losses)."""
    loss = label.replace("_rfs", "").replace("_fed", "")
    return loss in CLASSIFICATION_LOSS_REGISTRY and CLASSIFICATION_LOSS_REGISTRY.get(loss).sigmoid


# LVIS: RFS threshold 0.001 on ~100k images and the federated loss's 50 of 1,203 classes; the
# benchmark keeps these as image and class counts: 100 images, and 50 / 1,203 of the classes.
RFS_THRESHOLD_IMAGES = 100
FED_CLASS_FRACTION = 50 / 1203


def merged_config_digest(config: str) -> str:
    """sha256 of the size's config as merged (its yaml files and eql's defaults): a changed
    config makes a folder's finished runs another setting's."""
    import hashlib

    text = load_config(os.path.join(REPO, config)).dump()
    return hashlib.sha256(text.encode()).hexdigest()


def variant_opts(label: str, size: SetSize) -> List[str]:
    """The config options of a label: a loss of :func:`loss_opts`, optionally with "_rfs"
    (repeat-factor sampling at LVIS's threshold in images) inserted before "_fed" or appended."""
    rfs = "_rfs" in label
    loss = label.replace("_rfs", "")
    known = loss_opts()
    if loss not in known:
        raise SweepError(f"--losses: unknown loss {label!r}; choose from {sorted(known)}")
    opts = list(known[loss])
    if loss.endswith("_fed"):
        num = max(1, round(FED_CLASS_FRACTION * size.num_classes))
        opts += ["MODEL.ROI_BOX_HEAD.FED_LOSS_NUM_CLASSES", str(num)]
    if rfs:
        threshold = RFS_THRESHOLD_IMAGES / size.num_train_images
        opts += [
            "DATALOADER.SAMPLER_TRAIN",
            "RepeatFactorTrainingSampler",
            "DATALOADER.REPEAT_THRESHOLD",
            f"{threshold:.6g}",
        ]
    return opts


def with_rfs(label: str) -> str:
    return label.replace("_fed", "_rfs_fed") if label.endswith("_fed") else label + "_rfs"
