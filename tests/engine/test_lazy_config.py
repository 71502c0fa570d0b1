"""eql in detectron2's LazyConfig: every lazy config of configs/lazy builds the model of its yaml
twin (same parameter names and shapes) and, with the twin's weights, the same losses on one fixed
batch; the loss factory checks its keys as a yaml config does; a lazy file that is missing, not
python or without its fields is one line naming it."""

import os
import random

import numpy as np
import pytest
import torch
from common import REPO, write_counts_file
from detectron2.config import instantiate
from detectron2.modeling import build_model
from detectron2.structures import BitMasks, Boxes, Instances
from detectron2.utils.events import EventStorage

from eql.config import load_config
from eql.engine.lazy import classification_loss, load_lazy_config, loss_calls
from eql.errors import ConfigError
from eql.model_zoo import list_configs
from eql.modeling.heads import model_num_classes

LAZY = os.path.join(REPO, "configs", "lazy")
# each lazy config and its yaml twin
TWINS = {
    name: "/".join(name.split("/")[1:])[: -len(".py")] + ".yaml"
    for name in list_configs()
    if name.startswith(("lazy/LVISv1-", "lazy/quick_schedules/"))
}


def test_every_lazy_lvis_config_has_a_yaml_twin():
    assert len(TWINS) == 8
    for twin in TWINS.values():
        assert twin in list_configs(), twin


def fixed_batch(num_classes):
    """Two images with a few boxes, classes and masks, the same on every call."""
    g = torch.Generator().manual_seed(0)
    batch = []
    for h, w in ((96, 128), (128, 96)):
        boxes = torch.tensor([[8.0, 8.0, 60.0, 50.0], [30.0, 20.0, 90.0, 88.0]])
        inst = Instances((h, w), gt_boxes=Boxes(boxes))
        inst.gt_classes = torch.randint(num_classes, (2,), generator=g)
        masks = torch.zeros(2, h, w, dtype=torch.bool)
        for k, (x0, y0, x1, y1) in enumerate(boxes.int().tolist()):
            masks[k, y0:y1, x0:x1] = True
        inst.gt_masks = BitMasks(masks)
        image = torch.randint(256, (3, h, w), generator=g, dtype=torch.uint8)
        batch.append({"image": image, "height": h, "width": w, "instances": inst})
    return batch


def seeded_losses(model, batch):
    random.seed(0), np.random.seed(0), torch.manual_seed(0)
    model.train()
    with EventStorage(0):
        return {k: float(v) for k, v in model(batch).items()}


@pytest.mark.parametrize("lazy", sorted(TWINS))
def test_a_lazy_config_builds_its_yaml_twin(lazy, tmp_path):
    num_classes = model_num_classes(load_config(os.path.join(REPO, "configs", TWINS[lazy])))
    counts = [5 + 7 * j % 400 for j in range(num_classes)]
    counts = write_counts_file(tmp_path, counts, num_images=2000)
    cfg = load_config(
        os.path.join(REPO, "configs", TWINS[lazy]),
        ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "", "MODEL.EQL.FREQUENCY_SOURCE", counts],
    )
    torch.manual_seed(0)
    twin = build_model(cfg)
    lazy_cfg = load_lazy_config(os.path.join(LAZY, *lazy.split("/")[1:]))
    for _, call in loss_calls(lazy_cfg.model):
        call.frequency_source = counts
    torch.manual_seed(1)
    model = instantiate(lazy_cfg.model)
    expected = {k: tuple(v.shape) for k, v in twin.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == expected
    assert type(model) is type(twin)
    twin_losses = [type(m) for m in twin.modules() if type(m).__module__.startswith("eql.losses")]
    assert [type(m) for m in model.modules() if type(m) in set(twin_losses)] == twin_losses
    model.load_state_dict(twin.state_dict())
    batch = fixed_batch(num_classes)
    expected_losses = seeded_losses(twin, batch)
    assert seeded_losses(model, batch) == expected_losses
    assert all(np.isfinite(v) for v in expected_losses.values()) and len(expected_losses) >= 2


def test_the_loss_factory_checks_keys_as_a_yaml_config_does(tmp_path):
    counts = write_counts_file(tmp_path, [50, 10, 3, 1], num_images=100)
    loss = classification_loss(
        "eql", 4, frequency_source=counts, keys={"MODEL.EQL.EQL.LAMBDA": 0.05}
    )
    assert loss.num_classes == 4
    yaml_cfg = load_config(
        os.path.join(
            REPO, "configs/quick_schedules/synthetic_mask_rcnn_R_18_FPN_instant_test.yaml"
        ),
        [
            "MODEL.ROI_HEADS.NUM_CLASSES",
            "4",
            "MODEL.EQL.FREQUENCY_SOURCE",
            counts,
            "MODEL.EQL.EQL.LAMBDA",
            "0.05",
            "MODEL.EQL.LOSS",
            "eql",
        ],
    )
    from eql.modeling.losses import build_classification_loss

    twin = build_classification_loss(yaml_cfg, "roi", 4)
    assert torch.equal(loss.suppression, twin.suppression)
    bad = [
        ({"MODEL.EQL.EQL.LAMBDA": 0.0}, "MODEL.EQL.EQL.LAMBDA"),
        ({"MODEL.EQL.EQL.LAMBDA": float("nan")}, "MODEL.EQL.EQL.LAMBDA"),
        ({"MODEL.EQL.EQL.LAMDA": 0.1}, "MODEL.EQL.EQL.LAMDA"),
        ({"MODEL.EQL.EQL.LAMBDA": "0.1"}, "MODEL.EQL.EQL.LAMBDA"),
    ]
    for keys, named in bad:
        with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
            classification_loss("eql", 4, frequency_source=counts, keys=keys)
    with pytest.raises(ConfigError, match="MODEL.EQL.LOSS"):
        classification_loss("efl", 4, frequency_source=counts)  # a dense-head loss in ROI heads
    with pytest.raises(ConfigError, match="head"):
        classification_loss("eql", 4, head="mask", frequency_source=counts)


def test_a_lazy_file_that_cannot_be_used_is_named(tmp_path):
    missing = tmp_path / "nope.py"
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("MODEL: {}\n")
    broken = tmp_path / "broken.py"
    broken.write_text("model = dict(\n")
    failing = tmp_path / "failing.py"
    failing.write_text("import no_such_module_here\n")
    partial = tmp_path / "partial.py"
    partial.write_text("model = dict(a=1)\ntrain = dict(max_iter=1)\n")
    cases = [
        (missing, "config file not found"),
        (yaml_file, "a LazyConfig is a python file"),
        (broken, "not valid python"),
        (failing, "cannot be loaded"),
        (partial, "no 'dataloader', 'optimizer', 'lr_multiplier'"),
    ]
    for path, message in cases:
        with pytest.raises(ConfigError) as e:
            load_lazy_config(str(path))
        assert str(e.value).startswith(str(path)) and message in str(e.value), str(e.value)
        assert "\n" not in str(e.value)


def test_the_train_loader_call_is_checked_against_its_function():
    from eql.engine.lazy_trainer import check_lazy_training

    path = os.path.join(LAZY, "quick_schedules", "synthetic_mask_rcnn_R_18_FPN_instant_test.py")
    cfg = load_lazy_config(path)
    check_lazy_training(cfg)
    cfg.dataloader.train.pop("total_batch_size")
    with pytest.raises(ConfigError, match=r"dataloader\.train\.total_batch_size: missing"):
        check_lazy_training(cfg)
    cfg = load_lazy_config(path, ["+dataloader.train.batch_size=2"])
    with pytest.raises(ConfigError, match=r"dataloader\.train\.batch_size: not an argument"):
        check_lazy_training(cfg)
    cfg = load_lazy_config(path, ["+train.max_to_keep=2"])
    with pytest.raises(ConfigError, match=r"train\.max_to_keep: not read"):
        check_lazy_training(cfg)


@pytest.mark.parametrize("lazy", sorted(n for n in TWINS if "LVISv1" in n))
def test_a_lazy_lvis_config_trains_with_its_yaml_twins_settings(lazy):
    """The data, solver, schedule and test settings of the lazy config are the yaml twin's."""
    cfg = load_config(os.path.join(REPO, "configs", TWINS[lazy]), ["MODEL.DEVICE", "cpu"])
    lazy_cfg = load_lazy_config(os.path.join(LAZY, *lazy.split("/")[1:]))
    train, test = lazy_cfg.dataloader.train, lazy_cfg.dataloader.test
    resize_train, flip = train.mapper.augmentations
    resize_test = test.mapper.augmentations[0]
    solver, schedule = cfg.SOLVER, lazy_cfg.lr_multiplier
    pairs = [
        (tuple(train.dataset.names), cfg.DATASETS.TRAIN),
        (tuple(test.dataset.names), cfg.DATASETS.TEST),
        (lazy_cfg.dataloader.evaluator.dataset_name, cfg.DATASETS.TEST[0]),
        (lazy_cfg.dataloader.evaluator.max_dets_per_image, cfg.TEST.DETECTIONS_PER_IMAGE),
        (train.total_batch_size, solver.IMS_PER_BATCH),
        (train.num_workers, cfg.DATALOADER.NUM_WORKERS),
        (train.sampler, cfg.DATALOADER.SAMPLER_TRAIN),
        (tuple(resize_train.short_edge_length), cfg.INPUT.MIN_SIZE_TRAIN),
        (resize_train.max_size, cfg.INPUT.MAX_SIZE_TRAIN),
        (resize_train.sample_style, cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING),
        (flip.horizontal, cfg.INPUT.RANDOM_FLIP == "horizontal"),
        (train.mapper.use_instance_mask, cfg.MODEL.MASK_ON),
        (resize_test.short_edge_length, cfg.INPUT.MIN_SIZE_TEST),
        (resize_test.max_size, cfg.INPUT.MAX_SIZE_TEST),
        (lazy_cfg.optimizer.lr, solver.BASE_LR),
        (lazy_cfg.optimizer.momentum, solver.MOMENTUM),
        (lazy_cfg.optimizer.weight_decay, solver.WEIGHT_DECAY),
        (lazy_cfg.optimizer.params.weight_decay_norm, solver.WEIGHT_DECAY_NORM),
        (lazy_cfg.train.max_iter, solver.MAX_ITER),
        (lazy_cfg.train.checkpointer.period, solver.CHECKPOINT_PERIOD),
        (lazy_cfg.train.init_checkpoint, cfg.MODEL.WEIGHTS),
        (tuple(schedule.scheduler.milestones), solver.STEPS),
        (schedule.scheduler.num_updates, solver.MAX_ITER),
        (
            list(schedule.scheduler["values"]),
            [solver.GAMMA**k for k in range(len(solver.STEPS) + 1)],
        ),
        (round(schedule.warmup_length * solver.MAX_ITER), solver.WARMUP_ITERS),
        (schedule.warmup_factor, solver.WARMUP_FACTOR),
        (schedule.warmup_method, solver.WARMUP_METHOD),
    ]
    if cfg.DATALOADER.SAMPLER_TRAIN == "RepeatFactorTrainingSampler":
        pairs.append((train.repeat_threshold, cfg.DATALOADER.REPEAT_THRESHOLD))
    for k, (got, expected) in enumerate(pairs):
        assert got == pytest.approx(expected), (k, got, expected)
    assert not solver.CLIP_GRADIENTS.ENABLED and not solver.AMP.ENABLED


def test_the_checkpoint_estimate_of_a_lazy_config_is_its_yaml_twins():
    from eql.engine.lazy import estimated_lazy_checkpoint_bytes
    from eql.engine.output_dir import estimated_checkpoint_bytes

    for lazy in ("lazy/quick_schedules/synthetic_mask_rcnn_R_18_FPN_instant_test.py",
                 "lazy/LVISv1-InstanceSegmentation/seesaw_mask_rcnn_R_50_FPN_1x.py"):  # fmt: skip
        twin = load_config(os.path.join(REPO, "configs", TWINS[lazy]), ["MODEL.DEVICE", "cpu"])
        estimate = estimated_lazy_checkpoint_bytes(
            load_lazy_config(os.path.join(REPO, "configs", lazy))
        )
        assert estimate == estimated_checkpoint_bytes(twin) and estimate > 10_000_000
