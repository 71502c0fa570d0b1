"""Every number a run reads is declared with its rule (eql/utils/config_keys.py): detectron2's keys
(eql/utils/detectron2_keys.py), eql's (eql/config.py: EQL_KEYS) and each loss's (its registry
entry). The walk sets every declared numeric key in turn to NaN, +inf, -inf, 0 and -1 through a
config file, as a user would, and asserts a one-line error naming the key, or, where the rule
allows the value, that it is legitimate: the model built from it trains a step and predicts,
the solver steps, with finite numbers (keys the run loop reads: their special values are declared
with their meaning)."""

import functools
import json
import math
import os

import pytest
import torch
from common import REPO, once_per_run

from eql.config import EQL_KEYS, get_eql_cfg, load_config
from eql.errors import ConfigError
from eql.modeling.losses import CLASSIFICATION_LOSS_REGISTRY
from eql.utils.config_keys import config_value
from eql.utils.detectron2_keys import DETECTRON2_KEYS, NOT_READ

QUICK = os.path.join(REPO, "configs", "quick_schedules")
CONFIG_OF_PREFIX = (  # the quick config whose model reads a key
    ("MODEL.RETINANET.", "synthetic_efl_retinanet_R_18_FPN_instant_test.yaml"),
    ("MODEL.EQL.EFL.", "synthetic_efl_retinanet_R_18_FPN_instant_test.yaml"),
    ("MODEL.SEM_SEG_HEAD.", "synthetic_softmax_eql_semantic_fpn_R_18_instant_test.yaml"),
    ("MODEL.EQL.SOFTMAX_EQL.", "synthetic_softmax_eql_semantic_fpn_R_18_instant_test.yaml"),
    ("MODEL.ROI_BOX_CASCADE_HEAD.", "synthetic_eql_cascade_mask_rcnn_R_18_FPN_instant_test.yaml"),
    ("", "synthetic_mask_rcnn_R_18_FPN_instant_test.yaml"),
)
WALK_VALUES = (float("nan"), float("inf"), float("-inf"), 0, -1)
# docs/robustness.md's rows -> the test of each (tests/robustness/test_robustness.py checks)
ROBUSTNESS_CASES = {
    "V01-every-numeric-key-declared": "test_every_numeric_key_is_declared_or_not_read",
    "V02-every-numeric-key-walked": "test_walk_every_numeric_key_with_nan_inf_zero_and_minus_one",
    "V03-accepted-values-work": "test_accepted_values_are_legitimate",
    "V04-unknown-names": "test_every_choice_and_registry_key_refuses_an_unknown_name",
}


def declared_keys():
    """(full name, Key) of every declared key."""
    keys = [(k.name, k) for k in DETECTRON2_KEYS + EQL_KEYS]
    for _, entry in CLASSIFICATION_LOSS_REGISTRY:
        keys += [(f"MODEL.EQL.{entry.config_node}.{k.name}", k) for k in entry.keys]
    return keys


def _numeric_leaves(node, prefix=""):
    for k, v in node.items():
        if isinstance(v, dict):
            yield from _numeric_leaves(v, f"{prefix}{k}.")
        elif _numeric(v):
            yield prefix + k


def _numeric(v) -> bool:
    if isinstance(v, bool) or isinstance(v, str):
        return False
    if isinstance(v, (int, float)):
        return True
    return isinstance(v, (list, tuple)) and any(_numeric(x) for x in v)


def test_every_numeric_key_is_declared_or_not_read():
    cfg = get_eql_cfg()
    declared = {name for name, _ in declared_keys()}
    for name in _numeric_leaves(cfg):
        assert name in declared or name in NOT_READ, f"{name}: declare its rule or why not read"
    for name, key in declared_keys():
        key.check(config_value(cfg, name), name)  # every declared key exists, its default obeys
    assert len(declared) > 140


def _yaml_value(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    if value != value:
        return ".nan"
    return {math.inf: ".inf", -math.inf: "-.inf"}.get(value) or repr(value)


def _shaped(current, value):
    """``value`` in the shape of the key's current value: every number of a list replaced."""
    if isinstance(current, (list, tuple)):
        return [_shaped(v, value) for v in current] or [value]
    return value


@functools.lru_cache(maxsize=None)
def _base_config(path: str):
    return load_config(path)


def _current(name: str):
    return config_value(_base_config(_config_for(name)), name)


def _config_for(name: str) -> str:
    return os.path.join(QUICK, next(f for p, f in CONFIG_OF_PREFIX if name.startswith(p)))


def _loss_for(name: str) -> list:
    """Overrides that make the model read a loss's key: the loss itself."""
    for loss_name, entry in CLASSIFICATION_LOSS_REGISTRY:
        if entry.config_node and name.startswith(f"MODEL.EQL.{entry.config_node}."):
            return ["MODEL.EQL.LOSS", loss_name] + (
                ["MODEL.EQL.PRIOR_PROB", "0.0"] if not entry.sigmoid else []
            )
    return []


def _with_value(tmp_path, name: str, value) -> str:
    """A config file: the quick config of the key, with the key set to ``value`` (every number of
    a list key)."""
    *parents, leaf = name.split(".")
    lines = [f"_BASE_: {_config_for(name)}"]
    lines += ["  " * d + f"{p}:" for d, p in enumerate(parents)]
    lines.append("  " * len(parents) + f"{leaf}: {_yaml_value(_shaped(_current(name), value))}")
    path = tmp_path / "walk.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _walk_cases():
    """(key name, index of a WALK_VALUES value) for every declared numeric key."""
    numeric = [n for n, k in declared_keys() if k.kind in (int, float)]
    return [(n, i) for n in numeric for i in range(len(WALK_VALUES))]


@pytest.fixture(scope="module")
def counts_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("counts") / "counts.json"
    cats = [{"id": j + 1, "image_count": 1 + 20 * j} for j in range(24)]
    path.write_text(json.dumps({"categories": cats, "num_images_with_annotations": 500}))
    return str(path)


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    """{(name, value): None if accepted, else the error} for every declared numeric key and walk
    value, each loaded from a config file as a user would (~750 loads: once a test run, the
    parallel workers share it)."""

    def compute():
        tmp_path = tmp_path_factory.mktemp("walk")
        out = []
        for name, index in _walk_cases():  # indices: JSON has no NaN or infinity
            try:
                load_config(_with_value(tmp_path, name, WALK_VALUES[index]), _loss_for(name))
                out.append([name, index, None])
            except ConfigError as e:
                out.append([name, index, str(e)])
        return out

    computed = once_per_run(tmp_path_factory, "config_walk", compute)
    return {(name, WALK_VALUES[i]): error for name, i, error in computed}


def test_walk_every_numeric_key_with_nan_inf_zero_and_minus_one(walk):
    """The error is one line naming the key; what is accepted is what the key's rule allows."""
    keys = dict(declared_keys())
    for (name, value), error in walk.items():
        if error is not None:
            assert name in error and "\n" not in error, (name, value, error)
        else:
            assert keys[name].allows(_shaped(_current(name), value)), (name, value)
    accepted = [k for k, e in walk.items() if e is None]
    assert not [(n, v) for n, v in accepted if v != v or v == -math.inf]
    assert 30 < len(accepted) < len(walk) / 3  # 0 and -1 are legitimate for some keys


def _batch(semseg: bool, ignore_value: int = 255, size: int = 48):
    from detectron2.structures import BitMasks, Boxes, Instances

    out = []
    for i in range(2):
        image = torch.randint(0, 255, (3, size, size), dtype=torch.uint8)
        if semseg:
            seg = torch.full((size, size), ignore_value, dtype=torch.long)
            seg[8:40, 8:40] = i + 1
            out.append({"image": image, "sem_seg": seg, "height": size, "width": size})
            continue
        inst = Instances((size, size))
        inst.gt_boxes = Boxes(torch.tensor([[8.0, 8.0, 40.0, 40.0]]))
        inst.gt_classes = torch.tensor([3 * i])
        masks = torch.zeros(1, size, size, dtype=torch.bool)
        masks[0, 8:40, 8:40] = True
        inst.gt_masks = BitMasks(masks)
        out.append({"image": image, "instances": inst, "height": size, "width": size})
    return out


def _works(cfg, with_model: bool) -> None:
    """The model of ``cfg`` trains one step (finite loss and gradients) and predicts; its solver
    gives finite learning rates over three steps (on a one-layer stand-in)."""
    from detectron2.modeling import build_model
    from detectron2.solver import build_lr_scheduler, build_optimizer
    from detectron2.utils.events import EventStorage

    torch.manual_seed(0)
    if with_model:
        model = build_model(cfg)
        semseg = cfg.MODEL.META_ARCHITECTURE == "SemanticSegmentor"
        batch = _batch(semseg, cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE)
        with EventStorage(0):
            losses = model(batch)
        total = sum(losses.values())
        assert torch.isfinite(total), losses
        total.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
        model.eval()
        with torch.no_grad():
            assert len(model(batch[:1])) == 1
    # the solver reads SOLVER.* only: its steps on the stand-in (on the model they cost 3 steps of
    # every parameter for nothing)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    optimizer = build_optimizer(cfg, model)
    scheduler = build_lr_scheduler(cfg, optimizer)
    for _ in range(3):
        optimizer.step()
        scheduler.step()
        assert all(math.isfinite(g["lr"]) and g["lr"] >= 0 for g in optimizer.param_groups)


def _reader(name: str) -> str:
    """What reads a key: "model" (built, one training step, one prediction), "solver" (optimizer
    and schedule) or "run" (the loop, data loading, evaluation: their special values are
    declared with their meaning, ``Key.also``, and the end-to-end tests run them)."""
    if name.startswith("SOLVER."):
        return "solver"
    if name.startswith("MODEL.") and not name.startswith(
        ("MODEL.EQL.GRADIENT_STATS.", "MODEL.EQL.FREQUENCY_SOURCE")
    ):
        return "model"
    return "run"


@pytest.mark.slow
def test_accepted_values_are_legitimate(walk, tmp_path, counts_file):
    """Every value the walk accepts for a key the model or the solver reads works there."""
    failures, proved = [], 0
    for (name, value), error in walk.items():
        if error is not None or _reader(name) == "run":
            continue
        opts = ["MODEL.EQL.FREQUENCY_SOURCE", counts_file, *_loss_for(name)]
        opts += ["TEST.DETECTIONS_PER_IMAGE", "5"]  # a quick prediction (a key of the run)
        cfg = load_config(_with_value(tmp_path, name, value), opts)
        try:
            _works(cfg, with_model=_reader(name) == "model")
            proved += 1
        except Exception as e:  # noqa: BLE001  (reported with the key)
            failures.append((name, value, f"{type(e).__name__}: {e}"[:200]))
    assert not failures, failures
    assert proved > 40


def test_every_choice_and_registry_key_refuses_an_unknown_name(tmp_path):
    """Each string key with a fixed set of values, and each key naming a registered class the
    model reads, refuses "nope" with one line naming the key (and the choices)."""
    from eql.config import EQL_KEYS
    from eql.utils.detectron2_keys import DETECTRON2_CHOICE_KEYS, REGISTRY_KEYS

    names = [k.name for k in DETECTRON2_CHOICE_KEYS + EQL_KEYS if isinstance(k.rule, tuple)]
    names += [
        key for key, _, when in REGISTRY_KEYS if when in ("always", "rcnn", "anchors", "masks")
    ]
    for _, entry in CLASSIFICATION_LOSS_REGISTRY:
        names += [
            f"MODEL.EQL.{entry.config_node}.{k.name}"
            for k in entry.keys
            if isinstance(k.rule, tuple)
        ]
    assert len(names) > 30
    for name in names:
        with pytest.raises(ConfigError) as e:
            load_config(_with_value(tmp_path, name, "nope"), _loss_for(name))
        message = str(e.value)
        assert name in message and "'nope'" in message and "\n" not in message, (name, message)
