"""Training from a detectron2 LazyConfig with the guarantees of eql's Trainer: the train stream and
RNGs that ``--resume`` continues exactly, crash-safe checkpoints, the stop on divergence, and the
evaluation of ``dataloader.test`` with ``dataloader.evaluator`` (eql's LVIS evaluator).

The LazyConfig is detectron2's (``model``, ``dataloader``, ``optimizer``, ``lr_multiplier``,
``train``) with ``dataloader.train`` an ``L(reproducible_train_loader)(...)`` (its ``position``
is the trainer's); ``train`` holds output_dir, init_checkpoint, max_iter, amp.enabled,
checkpointer.period, eval_period, log_period, device and seed, checked by :data:`TRAIN_KEYS`.
"""

import inspect
import os
import weakref

import yaml
from detectron2.config import instantiate
from detectron2.engine import AMPTrainer, SimpleTrainer, TrainerBase
from detectron2.engine.defaults import create_ddp_model, default_writers
from detectron2.engine.hooks import (
    EvalHook,
    IterationTimer,
    LRScheduler,
    PeriodicCheckpointer,
    PeriodicWriter,
)
from detectron2.evaluation import inference_on_dataset, print_csv_format
from detectron2.solver import LRMultiplier
from detectron2.utils import comm
from omegaconf import OmegaConf

from ..checkpoint import EQLCheckpointer
from ..data.train_stream import (
    SAMPLERS,
    StepSeeder,
    StreamPosition,
    reproducible_train_loader,
)
from ..errors import ConfigError
from ..utils.config_keys import Key, check_keys, config_value
from .divergence import finite_loss_hook
from .trainer import Trainer, ddp_device_ids

# the train.* fields eql's lazy training reads; any other field is refused (not honoured)
TRAIN_KEYS = (
    Key("train.output_dir", str, doc="the run's folder"),
    Key("train.init_checkpoint", str, doc="weights to start from ('' for none)"),
    Key("train.max_iter", int, ">= 1", "iterations"),
    Key("train.amp.enabled", bool, doc="automatic mixed precision"),
    Key("train.checkpointer.period", int, ">= 1", "iterations between checkpoints"),
    Key("train.eval_period", int, ">= 0", "iterations between evaluations (0: at the end)"),
    Key("train.log_period", int, ">= 1", "iterations between metric writes"),
    Key("train.device", str, doc="cpu or cuda"),
    Key("train.seed", int, ">= 0", "the run's seed", also=((-1, "a random seed"),)),
)
# the values of the train loader's call, checked at start-up by the rules of their yaml twins
# (DATALOADER.*, SOLVER.IMS_PER_BATCH) where the config gives them
TRAIN_LOADER_KEYS = (
    Key("total_batch_size", int, ">= 1", "images per step, over all processes"),
    Key("num_workers", int, ">= 0", "data loading processes; 0: in the trainer"),
    Key("sampler", str, SAMPLERS, "the training sampler (eql's resumable stream)"),
    Key("repeat_threshold", float, "[0, 1]", "repeat-factor sampling threshold (LVIS: 0.001)"),
    Key("repeat_sqrt", bool, doc="square root of the repeat factor"),
    Key("random_subset_ratio", float, "(0, 1]", "fraction of images sampled", none_ok=True),
    Key("aspect_ratio_grouping", bool, doc="batches of one aspect-ratio group"),
)


def _declared_fields():
    """The fields of ``train`` the table declares, and those of its nodes (amp, checkpointer)."""
    fields, nested = set(), {}
    for key in TRAIN_KEYS:
        parts = key.name.split(".")
        fields.add(parts[1])
        if len(parts) == 3:
            nested.setdefault(parts[1], set()).add(parts[2])
    return fields, nested


TRAIN_FIELDS, NESTED_FIELDS = _declared_fields()


def check_lazy_training(cfg) -> None:
    """ConfigError naming the field: a train.* field eql does not honour or one out of its rule,
    a train loader that is not eql's reproducible stream."""
    train = OmegaConf.to_container(cfg.train, resolve=True)
    for field, value in train.items():
        if field not in TRAIN_FIELDS:
            raise ConfigError(f"train.{field}: not read by eql's lazy training; remove it")
        if field in NESTED_FIELDS and not isinstance(value, dict):
            raise ConfigError(f"train.{field}: a dict of {sorted(NESTED_FIELDS[field])}")
        unknown = set(value) - NESTED_FIELDS[field] if field in NESTED_FIELDS else set()
        if unknown:
            raise ConfigError(f"train.{field}.{sorted(unknown)[0]}: not read by eql's training")
    missing = [k.name for k in TRAIN_KEYS if _missing({"train": train}, k.name)]
    if missing:
        raise ConfigError(f"{missing[0]}: missing from the config")
    check_keys({"train": train}, TRAIN_KEYS)
    if not train["output_dir"]:
        raise ConfigError("train.output_dir: empty (the run's folder)")
    for part in ("test", "evaluator"):
        node = cfg.dataloader.get(part)
        if node is not None and not hasattr(node, "keys"):
            raise ConfigError(f"dataloader.{part}: an L(...) call, or null for none (got {node!r})")
    target = cfg.dataloader.get("train", {}).get("_target_") if "train" in cfg.dataloader else None
    if target is not reproducible_train_loader:
        raise ConfigError(
            "dataloader.train: eql's lazy training needs L(eql.data.train_stream."
            "reproducible_train_loader)(...) (the stream a resumed run continues exactly)"
        )
    check_call_arguments(cfg.dataloader.train, "dataloader.train", exclude=("position",))
    loader = OmegaConf.to_container(cfg.dataloader.train, resolve=True)
    for key in TRAIN_LOADER_KEYS:
        if key.name in loader:
            key.check(loader[key.name], f"dataloader.train.{key.name}")


def check_call_arguments(call, path: str, exclude=()) -> None:
    """ConfigError naming ``path.<argument>``: an argument the call's target does not take, or a
    required one that is not given (``exclude``: set by eql, not by the config)."""
    params = inspect.signature(call._target_).parameters
    for name in call:
        if name != "_target_" and name not in params:
            raise ConfigError(f"{path}.{name}: not an argument of {call._target_.__qualname__}")
    for name, param in params.items():
        required = param.default is param.empty and param.kind not in (
            param.VAR_POSITIONAL,
            param.VAR_KEYWORD,
        )
        if required and name not in call and name not in exclude:
            raise ConfigError(
                f"{path}.{name}: missing (an argument of {call._target_.__qualname__})"
            )


def _missing(tree, name: str) -> bool:
    try:
        return config_value(tree, name) is None
    except (KeyError, TypeError):
        return True


def config_text(cfg) -> str:
    """The LazyConfig as yaml, callables by their dotted names (compared across ranks)."""

    def plain(node):
        if isinstance(node, dict):
            return {str(k): plain(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [plain(v) for v in node]
        if isinstance(node, (str, int, float, bool)) or node is None:
            return node
        name = getattr(node, "__qualname__", None)
        return f"{node.__module__}.{name}" if name else repr(node)

    return yaml.safe_dump(plain(OmegaConf.to_container(cfg, resolve=False)), sort_keys=True)


def evaluate(cfg, model):
    """``dataloader.test`` evaluated by ``dataloader.evaluator`` (its output_dir defaults to
    <train.output_dir>/inference/<dataset>); {} when the config has no test set."""
    if not cfg.dataloader.get("test") or not cfg.dataloader.get("evaluator"):
        return {}
    evaluator_cfg = cfg.dataloader.evaluator
    if "output_dir" not in evaluator_cfg or not evaluator_cfg.output_dir:
        name = str(evaluator_cfg.get("dataset_name", "test"))
        evaluator_cfg.output_dir = os.path.join(cfg.train.output_dir, "inference", name)
    results = inference_on_dataset(
        model, instantiate(cfg.dataloader.test), instantiate(evaluator_cfg)
    )
    if comm.is_main_process() and results:
        print_csv_format(results)
    return results


class LazyTrainer(Trainer):
    """eql's Trainer (exact resume, crash-safe checkpoints, stop on divergence) built from a
    checked LazyConfig (:func:`check_lazy_training`) instead of a yaml config."""

    def __init__(self, cfg):
        TrainerBase.__init__(self)
        train = cfg.train
        self.stream_position = StreamPosition(
            seed=train.seed if train.seed >= 0 else comm.shared_random_seed()
        )
        model = instantiate(cfg.model).to(train.device)
        model.register_forward_hook(finite_loss_hook(lambda: self.iter))
        cfg.optimizer.params.model = model
        optimizer = instantiate(cfg.optimizer)
        data_loader = instantiate(cfg.dataloader.train)
        # set on the loader, not in the config (OmegaConf would turn it into a copy)
        data_loader.position = self.stream_position
        model = create_ddp_model(
            model, broadcast_buffers=False, device_ids=ddp_device_ids(train.device)
        )
        self._trainer = (AMPTrainer if train.amp.enabled else SimpleTrainer)(
            model, data_loader, optimizer
        )
        self.scheduler = LRMultiplier(
            optimizer, multiplier=instantiate(cfg.lr_multiplier), max_iter=train.max_iter
        )
        self.checkpointer = EQLCheckpointer(model, train.output_dir, trainer=weakref.proxy(self))
        self.start_iter, self.max_iter = 0, train.max_iter
        self.cfg, self.output_dir = cfg, train.output_dir
        built = self.build_hooks()
        self._recorders = [h for h in built if isinstance(h, (IterationTimer, PeriodicWriter))]
        self.register_hooks(built)

    def build_hooks(self):
        train = self.cfg.train
        hooks = [
            StepSeeder(self.stream_position),
            IterationTimer(),
            LRScheduler(),
        ]
        if comm.is_main_process():
            hooks.append(PeriodicCheckpointer(self.checkpointer, train.checkpointer.period))

        def test_and_save_results():
            self._last_eval_results = evaluate(self.cfg, self.model)
            return self._last_eval_results

        hooks.append(EvalHook(train.eval_period, test_and_save_results))  # 0: after the last
        if comm.is_main_process():
            writers = default_writers(train.output_dir, train.max_iter)
            hooks.append(PeriodicWriter(writers, period=train.log_period))
        return hooks

    def resume_or_load(self, resume=True):
        self.checkpointer.resume_or_load(self.cfg.train.init_checkpoint, resume=resume)
        if resume and self.checkpointer.has_checkpoint():
            self.start_iter = self.iter + 1
        self.stream_position.start_batch = self.start_iter

    def verify_results(self) -> None:
        """A LazyConfig has no expected results."""
