#!/usr/bin/env python
"""Trains and evaluates eql models: detectron2's train_net with eql's config keys, datasets,
LVIS evaluator and CPU multi-process (gloo) support.

    python tools/train_net.py --num-gpus 8 \
        --config-file configs/LVISv1-InstanceSegmentation/eql_mask_rcnn_R_50_FPN_1x.yaml
    python tools/train_net.py --config-file ... --eval-only MODEL.WEIGHTS output/model_final.pth
    python tools/train_net.py --config-file configs/quick_schedules/... --num-gpus 2 \
        MODEL.DEVICE cpu
    torchrun --nproc-per-node 8 tools/train_net.py --config-file ...   # or srun under SLURM
"""

import logging
import os

from detectron2.engine import default_setup
from detectron2.evaluation import verify_results
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

import eql  # noqa: F401  (registers eql's models and datasets)
from eql.checkpoint import EQLCheckpointer
from eql.config import load_config
from eql.data import register_synthetic_lvis
from eql.data.synthetic.semseg import register_synthetic_semseg
from eql.engine import Trainer, write_eval_results
from eql.engine.launch import RunPlace, launch_from_command_line, report_worker_errors
from eql.engine.output_dir import check_output_dir, estimated_checkpoint_bytes
from eql.engine.validation import validate_run

logger = logging.getLogger("eql")


def read_config(args):
    """The run's config, read and validated (eql.config.load_config), frozen; writes nothing."""
    cfg = load_config(args.config_file, args.opts)
    if cfg.TEST.LVIS.AP_FIXED and cfg.TEST.DETECTIONS_PER_IMAGE != -1:
        # AP^Fixed caps detections per class over the dataset, not per image
        logger.info("TEST.LVIS.AP_FIXED: TEST.DETECTIONS_PER_IMAGE set to -1 (no per-image cap)")
        cfg.TEST.DETECTIONS_PER_IMAGE = -1
    cfg.freeze()
    return cfg


def prepare_config(cfg):
    """Registers the config's datasets in this process; writes nothing."""
    # category statistics are cached next to a dataset's json, or here when that is read-only
    os.environ.setdefault("EQL_CACHE_DIR", os.path.join(cfg.OUTPUT_DIR, "category_stats"))
    if cfg.DATASETS.SYNTHETIC.ROOT:
        register_synthetic_lvis(cfg.DATASETS.SYNTHETIC.ROOT, cfg.DATASETS.SYNTHETIC.PREFIX)
    if cfg.DATASETS.SYNTHETIC_SEMSEG.ROOT:
        register_synthetic_semseg(
            cfg.DATASETS.SYNTHETIC_SEMSEG.ROOT, cfg.DATASETS.SYNTHETIC_SEMSEG.PREFIX
        )
    return cfg


def validate(args, world_size=None):
    """The start-up validation (eql/engine/validation.py) and OUTPUT_DIR's checks (a folder we can
    write in, with room for a checkpoint), before any process starts or file is written; returns
    the config. ``world_size``: the run's processes (default: ``--num-gpus x --num-machines``)."""
    cfg = prepare_config(read_config(args))
    validate_run(
        cfg,
        eval_only=args.eval_only,
        resume=args.resume,
        allow_random_weights=args.allow_random_weights,
        world_size=world_size or args.num_gpus * args.num_machines,
    )
    check_output_dir(cfg.OUTPUT_DIR, None if args.eval_only else estimated_checkpoint_bytes(cfg))
    return cfg


def setup(args, cfg):
    """A process of the run: ``cfg`` as read and validated by the launching process (once; the
    processes it starts receive it), its datasets registered here."""
    cfg = prepare_config(cfg)
    default_setup(cfg, args)
    setup_logger(cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="eql")
    return cfg


def main(args, cfg=None):
    cfg = setup(args, read_config(args) if cfg is None else cfg)
    if args.eval_only:
        model = Trainer.build_model(cfg)
        EQLCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(
            cfg.MODEL.WEIGHTS, resume=args.resume
        )
        res = Trainer.test(cfg, model)
        if comm.is_main_process():
            verify_results(cfg, res)
            write_eval_results(cfg.OUTPUT_DIR, res)
        return res
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def argument_parser(description=__doc__):
    """detectron2's train_net command line (its default_argument_parser's options and defaults),
    with numbers checked as eql's tools check them (eql/utils/arguments.py)."""
    import argparse

    from eql.utils.arguments import count, nonnegative_int

    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config-file", default="", metavar="FILE", help="path to config file")
    parser.add_argument(
        "--resume", action="store_true", help="resume from OUTPUT_DIR's last checkpoint"
    )
    parser.add_argument("--eval-only", action="store_true", help="perform evaluation only")
    parser.add_argument("--num-gpus", type=count, default=1, help="processes *per machine*")
    parser.add_argument("--num-machines", type=count, default=1, help="total number of machines")
    parser.add_argument(
        "--machine-rank", type=nonnegative_int, default=0, help="the rank of this machine"
    )
    parser.add_argument(
        "--dist-url",
        default=None,
        help="initialization URL of torch.distributed (default: detectron2's port on localhost; "
        "'auto': a free port)",
    )
    parser.add_argument(
        "--allow-random-weights",
        action="store_true",
        help="evaluate (--eval-only) without MODEL.WEIGHTS or with a checkpoint of another class "
        "count (refused by default: the metrics would be a random head's)",
    )
    parser.add_argument(
        "opts",
        help="config overrides: KEY VALUE pairs (lazyconfig_train_net: key=value)",
        default=None,
        nargs=argparse.REMAINDER,
    )
    return parser


def parse_args(argv=None, description=__doc__):
    parser = argument_parser(description)
    args = parser.parse_args(argv)
    if args.machine_rank >= args.num_machines:
        parser.error(
            f"argument --machine-rank: {args.machine_rank} is not below --num-machines "
            f"{args.num_machines}"
        )
    return args


def worker(args, cfg=None):
    """``main`` in each process of a run (user errors: one line, exit status 2)."""
    return report_worker_errors(main, args, cfg)


def cli(argv=None):
    args = parse_args(argv)
    print("Command Line Args:", args)
    return launch_from_command_line(
        args, validate, worker, lambda cfg: RunPlace(cfg.OUTPUT_DIR, cfg.MODEL.DEVICE, cfg.dump())
    )


if __name__ == "__main__":
    cli()
