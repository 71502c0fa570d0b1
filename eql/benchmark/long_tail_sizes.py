"""The long-tail benchmark's sizes (:mod:`eql.benchmark.long_tail_sweep`): each generated set with
the config trained on it, and the schedule multiples of a config (1x, 2x, 4x: detectron2's way,
iterations and learning-rate steps multiplied, warm-up kept)."""

import functools
import os
from dataclasses import dataclass, replace
from typing import Dict, List

from ..config import load_config
from ..modeling.heads import DENSE_HEAD, ROI_HEAD
from .long_tail_variants import SweepError  # noqa: F401  (re-exported)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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
    head: str = ROI_HEAD  # the kind of the config's classifier: the losses it can train

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
# the demo's set and schedule with RetinaNet R-18-FPN: focal loss vs EFL (one-stage)
RETINANET = replace(
    SMOKE, config="configs/LongTail-Synthetic/demo_retinanet_R_18_FPN.yaml", head=DENSE_HEAD
)
TINY = replace(
    SMOKE, num_classes=12, num_train_images=240, num_val_images=24, max_images_per_class=110
)
SIZES = {
    "smoke": SMOKE,
    # the same set, trained twice as long (~4 minutes a run)
    "demo": replace(SMOKE, config="configs/LongTail-Synthetic/demo_faster_rcnn_R_18_FPN.yaml"),
    "demo_retinanet": RETINANET,
    # rehearsals (a run in seconds): benchmarks/gpu_evidence.sh --dry-run, the tests
    "tiny": TINY,
    "tiny_retinanet": replace(TINY, config=RETINANET.config, head=DENSE_HEAD),
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


@functools.lru_cache(maxsize=None)
def _merged_config(config: str):
    """The size's config as merged (its yaml files and eql's defaults), loaded once a process:
    the sweep's digest, every label's options, the sweep's iterations and its task ask for it."""
    cfg = load_config(os.path.join(REPO, config))
    cfg.freeze()  # shared: read only
    return cfg


def merged_config_digest(config: str) -> str:
    """sha256 of the size's config as merged: a changed config makes a folder's finished runs
    another setting's."""
    import hashlib

    return hashlib.sha256(_merged_config(config).dump().encode()).hexdigest()


def base_schedule(config: str):
    """(SOLVER.MAX_ITER, SOLVER.STEPS, SOLVER.CHECKPOINT_PERIOD) of a size's config as merged."""
    solver = _merged_config(config).SOLVER
    return solver.MAX_ITER, tuple(solver.STEPS), solver.CHECKPOINT_PERIOD


def schedule_opts(config: str, multiple: int) -> List[str]:
    """The options of ``multiple`` times the config's schedule ([] for 1x): its iterations and
    learning-rate steps times ``multiple``, warm-up kept, and a checkpoint at most every 1x
    length, so that an interrupted run goes on from there (resume is exact) instead of from
    its start."""
    if multiple == 1:
        return []
    max_iter, steps, period = base_schedule(config)
    stepped = "(" + "".join(f"{s * multiple}," for s in steps) + ")"
    return [
        "SOLVER.MAX_ITER",
        str(max_iter * multiple),
        "SOLVER.STEPS",
        stepped,
        "SOLVER.CHECKPOINT_PERIOD",
        str(min(period, max_iter)),
    ]


def trains_masks(size: SetSize) -> bool:
    """Whether the size's model has a mask head (--task segm)."""
    return bool(_merged_config(size.config).MODEL.MASK_ON)
