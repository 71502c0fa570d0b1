"""The start-up validation of a training or evaluation run: every check that can fail on the user's
input, run once before any process starts, any model is built or any file is written.

* datasets of DATASETS.TRAIN (training) and DATASETS.TEST: registered, json readable and valid
  (eql/data/lvis_json.py), training sets with annotations;
* class counts: the model's (eql/modeling/heads.py: num_classes_key) equal every set's, and the test
  sets have the training set's categories;
* the category-count file of MODEL.EQL.FREQUENCY_SOURCE;
* MODEL.WEIGHTS: exists and looks like a checkpoint when local; for --eval-only, set and holding
  the model's class count; with --resume, the checkpoint named by last_checkpoint;
* the training setup: AMP only on CUDA, a sampler the resumable stream supports, a batch that
  divides among the processes;
* the image files of every set (DATASETS.CHECK_IMAGES: all, a sample, or none): each exists, is
  an image of the json's size, and is complete (eql/data/image_files.py).

A valid LVIS-format json is parsed once per content: its category statistics are cached with the
sha256 of its content (eql/data/category_stats.py), and a cache of the same content says the json
was validated.
"""

import logging
import os
import zipfile
from typing import Dict, List, Optional, Tuple

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.utils.file_io import PathManager

from ..checkpoint import LAST_CHECKPOINT, EQLCheckpointer
from ..data.category_stats import cached_stats, load_or_compute_stats
from ..data.image_files import cache_manifest, check_image_files, load_manifest
from ..data.lvis_json import DatasetFormatError, read_lvis_json
from ..data.train_stream import SAMPLERS
from ..errors import CheckpointError, ConfigError
from ..model_zoo import get_entry
from ..modeling.heads import model_num_classes, num_classes_key
from ..modeling.losses import training_category_stats

logger = logging.getLogger(__name__)


def dataset_categories(name: str, key: str, training: bool) -> Optional[List[int]]:
    """The sorted category ids of a registered dataset, its json validated; None when the
    dataset is not an LVIS-format json that eql reads (another loader)."""

    if name not in DatasetCatalog.list():
        raise ConfigError(f"{key}: dataset '{name}' is not registered")
    meta = MetadataCatalog.get(name)
    json_file = getattr(meta, "json_file", None)
    if not json_file:
        return None
    local = PathManager.get_local_path(json_file)
    if not os.path.isfile(local):
        raise DatasetFormatError(f"{json_file}: file not found (dataset '{name}' in {key})")
    cache_dir = os.environ.get("EQL_CACHE_DIR")
    # validated and parsed once: the statistics cache records the content it came from, and the
    # image manifest (eql/data/image_files.py) is made from the same parse
    cached = cached_stats(local, cache_dir)
    if cached is not None:
        return sorted(cached.category_ids)
    data = read_lvis_json(json_file, require_annotations=training)
    if not training:
        check_test_annotations(json_file, data)
    stats = load_or_compute_stats(local, data, cache_dir) if data.get("annotations") else None
    cache_manifest(local, stats.source_sha256 if stats else None, cache_dir, data)
    return sorted(c["id"] for c in data["categories"])


def check_test_annotations(json_file: str, data: Dict) -> None:
    """What LVIS evaluation reads of a test set's annotations: a numeric ``area`` each."""

    for k, ann in enumerate(data.get("annotations", [])):
        area = ann.get("area")
        if not isinstance(area, (int, float)) or isinstance(area, bool) or area != area:
            raise DatasetFormatError(
                f"{json_file}: annotations[{k}] (id {ann['id']}) field 'area' must be a number "
                f"(LVIS evaluation selects objects by their area), got {area!r}"
            )


def check_dataset_files(cfg, name: str, key: str, training: bool) -> int:
    """What a run reads of a registered LVIS-format dataset beyond its json: its image files
    (eql/data/image_files.py; every one, a fixed sample, or none: DATASETS.CHECK_IMAGES), and for
    training, masks INPUT.MASK_FORMAT can read. Returns how many images were checked."""

    meta = MetadataCatalog.get(name)
    json_file, image_root = getattr(meta, "json_file", None), getattr(meta, "image_root", None)
    if not json_file:
        return 0
    local = PathManager.get_local_path(json_file)
    cache_dir = os.environ.get("EQL_CACHE_DIR")
    stats = cached_stats(local, cache_dir)
    manifest = load_manifest(local, stats.source_sha256 if stats else None, cache_dir)
    if (
        training
        and cfg.MODEL.MASK_ON
        and cfg.INPUT.MASK_FORMAT == "polygon"
        and manifest.first_rle >= 0
    ):
        raise ConfigError(
            f"INPUT.MASK_FORMAT: 'polygon' cannot read the RLE segmentation of annotations"
            f"[{manifest.first_rle}] of {json_file} (dataset '{name}'); set INPUT.MASK_FORMAT "
            "bitmask"
        )
    sample = cfg.DATASETS.CHECK_IMAGES
    if sample == 0 or not image_root:
        return 0
    where = f" (dataset '{name}' in {key}; DATASETS.CHECK_IMAGES {sample})"
    return check_image_files(json_file, image_root, manifest.images, sample, where)


def looks_like_checkpoint(path: str) -> bool:
    """Whether a file can be a torch / pickle checkpoint: a complete zip (torch's format; a
    truncated one lacks its directory) or a pickle stream."""
    if zipfile.is_zipfile(path):
        return True
    with open(path, "rb") as f:
        return f.read(1) == b"\x80"  # pickle protocol 2+


def check_checkpoint_file(path: str, key: str) -> None:
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: file not found ({key})")
    if path.endswith((".pth", ".pkl", ".pt")) and not looks_like_checkpoint(path):
        raise CheckpointError(f"{path}: not a readable checkpoint, truncated or corrupt ({key})")


def check_resume(cfg) -> bool:
    """With --resume: whether there is a checkpoint to resume from; raises when last_checkpoint
    names a missing or unreadable file."""

    tag = os.path.join(cfg.OUTPUT_DIR, LAST_CHECKPOINT)
    if not os.path.isfile(tag):
        return False
    with open(tag) as f:
        name = f.read().strip()
    check_checkpoint_file(os.path.join(cfg.OUTPUT_DIR, name), f"named by {tag}")
    return True


def check_device(cfg) -> None:
    """MODEL.DEVICE names a device this machine has (:func:`check_device_name`)."""
    check_device_name(str(cfg.MODEL.DEVICE), "MODEL.DEVICE")


def check_device_name(device: str, key: str) -> None:
    """``device`` (the value of ``key``) names a device this machine has: cpu, or cuda[:N] with N
    below torch's count (else torch's error in every process, after the start)."""
    import torch

    if device == "cpu":
        return
    if device == "cuda" or device.startswith("cuda:"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = device.partition(":")[2]
        if count == 0:
            raise ConfigError(
                f"{key}: {device!r}, but torch sees no CUDA device here ({key} cpu trains on the "
                "CPU)"
            )
        if index and (not index.isdigit() or int(index) >= count):
            raise ConfigError(f"{key}: {device!r}, but this machine has {count} GPU(s)")
        return
    raise ConfigError(f"{key}: {device!r} is not 'cpu', 'cuda' or 'cuda:N'")


def check_amp_device(enabled: bool, device: str, amp_key: str, device_key: str) -> None:
    """Mixed precision (``amp_key``) only on CUDA: detectron2's AMPTrainer is CUDA-only."""
    if enabled and not str(device).startswith("cuda"):
        raise ConfigError(
            f"{amp_key}: needs {device_key} cuda (AMPTrainer is CUDA-only), got {device!r}"
        )


def check_training_setup(cfg, world_size: int) -> None:

    check_amp_device(cfg.SOLVER.AMP.ENABLED, cfg.MODEL.DEVICE, "SOLVER.AMP.ENABLED", "MODEL.DEVICE")
    if cfg.DATALOADER.SAMPLER_TRAIN not in SAMPLERS:
        raise ConfigError(
            f"DATALOADER.SAMPLER_TRAIN: {cfg.DATALOADER.SAMPLER_TRAIN!r} is not supported by "
            f"eql's resumable train stream; choose one of {list(SAMPLERS)}"
        )
    if cfg.SOLVER.IMS_PER_BATCH % world_size:
        raise ConfigError(
            f"SOLVER.IMS_PER_BATCH: {cfg.SOLVER.IMS_PER_BATCH} images do not divide among "
            f"{world_size} processes"
        )


def check_weights(cfg, eval_only: bool, allow_random_weights: bool) -> None:
    weights = cfg.MODEL.WEIGHTS
    if not weights:
        if eval_only and not allow_random_weights:
            raise ConfigError(
                "MODEL.WEIGHTS: empty for --eval-only: the metrics would be those of a randomly "
                "initialised model (pass --allow-random-weights to do that on purpose)"
            )
        return
    if weights.startswith("eql://"):

        get_entry(weights[len("eql://") :])  # an unknown name fails here, not after set-up
        return
    if "://" in weights:
        return  # detectron2://, http(s)://: fetched (and checked) when loaded
    check_checkpoint_file(weights, "MODEL.WEIGHTS")
    if eval_only and weights.endswith(".pth"):
        expected = model_num_classes(cfg)
        found = checkpoint_num_classes(weights, cfg)
        if found is not None and found != expected and not allow_random_weights:
            raise CheckpointError(
                f"{weights}: a checkpoint for {found} classes, the model has {expected} "
                f"({num_classes_key(cfg)}); its classifier would not load and the metrics would "
                "be a random head's"
            )


def checkpoint_num_classes(path: str, cfg) -> Optional[int]:
    """The class count of a checkpoint's box classifier (C + 1 rows of cls_score) or RetinaNet
    classification conv (A * C outputs); None when it has neither."""

    state = EQLCheckpointer(_Empty())._torch_load(path)
    state = state.get("model", state)
    for key, value in state.items():
        if key.startswith("roi_heads.box_predictor") and key.endswith("cls_score.weight"):
            return int(value.shape[0]) - 1
        if key == "head.cls_score.weight":
            anchors = len(cfg.MODEL.ANCHOR_GENERATOR.SIZES[0]) * len(
                cfg.MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS[0]
            )
            return int(value.shape[0]) // anchors
    return None


class _Empty:
    """A stand-in model for reading a checkpoint file."""

    def state_dict(self):
        return {}


def validate_run(
    cfg,
    *,
    eval_only: bool = False,
    resume: bool = False,
    allow_random_weights: bool = False,
    world_size: int = 1,
) -> Dict:
    """Runs every start-up check (see the module docstring); raises a UserError naming the file,
    field or key. Returns what it found: {"classes": C, "datasets": {name: category ids}}."""

    check_device(cfg)
    if not eval_only:
        check_training_setup(cfg, world_size)
    if resume and check_resume(cfg):
        allow_random_weights = True  # the weights come from the run's own checkpoint
    num_classes = model_num_classes(cfg)
    found: Dict[str, Optional[List[int]]] = {}
    sets: List[Tuple[str, str, bool]] = []
    if not eval_only:
        if not cfg.DATASETS.TRAIN:
            raise ConfigError("DATASETS.TRAIN: empty (nothing to train on)")
        sets += [(name, "DATASETS.TRAIN", True) for name in cfg.DATASETS.TRAIN]
    sets += [(name, "DATASETS.TEST", False) for name in cfg.DATASETS.TEST]
    for name, key, training in sets:
        found[name] = dataset_categories(name, key, training)
        cats = found[name]
        if cats is not None and len(cats) != num_classes:
            raise ConfigError(
                f"{key}: dataset '{name}' has {len(cats)} categories, the model {num_classes} "
                f"({num_classes_key(cfg)})"
            )
    train_cats = [found[n] for n in (cfg.DATASETS.TRAIN if not eval_only else ())]
    reference = next((c for c in train_cats if c is not None), None)
    for name in cfg.DATASETS.TEST:
        if reference is not None and found[name] is not None and found[name] != reference:
            missing = sorted(set(reference) - set(found[name]))[:5]
            extra = sorted(set(found[name]) - set(reference))[:5]
            raise ConfigError(
                f"DATASETS.TEST: dataset '{name}' has other categories than the training set "
                f"(ids missing: {missing}, unknown: {extra})"
            )
    source = cfg.MODEL.EQL.FREQUENCY_SOURCE
    if not eval_only and source not in ("dataset", "none"):
        training_category_stats(cfg, num_classes)  # reads and checks the count file
    check_weights(cfg, eval_only, allow_random_weights)
    for name, key, training in sets:  # the slowest check last: files on disk
        check_dataset_files(cfg, name, key, training)
    return {"classes": num_classes, "datasets": found}
