#!/usr/bin/env python
"""Trains and evaluates eql models from a detectron2 LazyConfig (configs/lazy), with the
guarantees of tools/train_net.py: the config checked at start-up (one-line errors naming the
file or field), exact resume, crash-safe checkpoints, eql's LVIS evaluator, and launching by
--num-gpus, torchrun or srun.

    python tools/lazyconfig_train_net.py --num-gpus 8 \
        --config-file configs/lazy/LVISv1-InstanceSegmentation/eql_mask_rcnn_R_50_FPN_1x.py
    python tools/lazyconfig_train_net.py --config-file ... --eval-only \
        train.init_checkpoint=output/model_final.pth
    torchrun --nproc-per-node 8 tools/lazyconfig_train_net.py --config-file ... train.seed=0

Overrides are detectron2's ``key=value``. An optional top-level ``datasets`` field registers
eql's synthetic set: ``datasets = dict(synthetic=dict(root=..., prefix=...))``.
"""

import logging
import os

from detectron2.config import instantiate
from detectron2.engine import default_setup
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger
from train_net import argument_parser as train_net_argument_parser
from train_net import parse_args

import eql  # noqa: F401  (registers eql's models and datasets)
from eql.checkpoint import EQLCheckpointer
from eql.data import register_synthetic_lvis
from eql.engine import write_eval_results
from eql.engine.launch import RunPlace, launch_from_command_line, report_worker_errors
from eql.engine.lazy import (
    check_lazy_inputs,
    check_lazy_weights,
    estimated_lazy_checkpoint_bytes,
    load_lazy_config,
)
from eql.engine.lazy_trainer import LazyTrainer, check_lazy_training, config_text, evaluate
from eql.engine.output_dir import check_output_dir
from eql.engine.validation import check_amp_device, check_device_name
from eql.errors import ConfigError

logger = logging.getLogger("eql")
DATASET_FIELDS = {"synthetic": {"root", "prefix"}}


def prepare_config(cfg):
    """Registers the config's synthetic set (``datasets.synthetic``) in this process."""
    # category statistics are cached next to a dataset's json, or here when that is read-only
    os.environ.setdefault("EQL_CACHE_DIR", os.path.join(cfg.train.output_dir, "category_stats"))
    datasets = cfg.get("datasets", {}) or {}
    for name, node in datasets.items():
        if name not in DATASET_FIELDS:
            raise ConfigError(f"datasets.{name}: unknown; eql registers {sorted(DATASET_FIELDS)}")
        if not hasattr(node, "keys"):
            raise ConfigError(f"datasets.{name}: a dict of {sorted(DATASET_FIELDS[name])}")
        unknown = set(node) - DATASET_FIELDS[name]
        if unknown:
            raise ConfigError(f"datasets.{name}.{sorted(unknown)[0]}: unknown field")
    synthetic = datasets.get("synthetic")
    if synthetic is not None and not synthetic.get("root"):
        raise ConfigError(
            "datasets.synthetic.root: empty (the folder of a set made by "
            "eql.data.generate_synthetic_lvis)"
        )
    if synthetic:
        register_synthetic_lvis(synthetic.root, synthetic.get("prefix", "synthetic_lvis"))
    return cfg


def validate(args, world_size=None):
    """The lazy config read and checked, before any process starts or file is written."""
    cfg = load_lazy_config(args.config_file, args.opts)
    check_lazy_training(cfg)
    prepare_config(cfg)
    check_lazy_inputs(cfg, eval_only=args.eval_only)
    check_lazy_weights(cfg, args.eval_only, args.resume, args.allow_random_weights)
    world = world_size or args.num_gpus * args.num_machines
    check_device_name(cfg.train.device, "train.device")
    check_amp_device(cfg.train.amp.enabled, cfg.train.device, "train.amp.enabled", "train.device")
    batch = cfg.dataloader.train.total_batch_size
    if not args.eval_only and batch % world:
        raise ConfigError(
            f"dataloader.train.total_batch_size: {batch} images cannot be split over {world} "
            "processes"
        )
    check_output_dir(
        cfg.train.output_dir, None if args.eval_only else estimated_lazy_checkpoint_bytes(cfg)
    )
    return cfg


def main(args, cfg):
    cfg = prepare_config(cfg)
    default_setup(cfg, args)
    setup_logger(cfg.train.output_dir, distributed_rank=comm.get_rank(), name="eql")
    if args.eval_only:
        model = instantiate(cfg.model).to(cfg.train.device)
        EQLCheckpointer(model, save_dir=cfg.train.output_dir).resume_or_load(
            cfg.train.init_checkpoint, resume=args.resume
        )
        model.eval()
        results = evaluate(cfg, model)
        if comm.is_main_process():
            write_eval_results(cfg.train.output_dir, results)
        return results
    trainer = LazyTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def worker(args, cfg):
    return report_worker_errors(main, args, cfg)


def argument_parser():
    """train_net's command line (overrides are ``key=value``)."""
    return train_net_argument_parser(__doc__)


def cli(argv=None):
    args = parse_args(argv, __doc__)
    print("Command Line Args:", args)
    return launch_from_command_line(
        args,
        validate,
        worker,
        lambda cfg: RunPlace(cfg.train.output_dir, cfg.train.device, config_text(cfg)),
    )


if __name__ == "__main__":
    cli()
