#!/usr/bin/env python
"""Trains and evaluates eql models: detectron2's train_net with eql's config keys, datasets,
LVIS evaluator and CPU multi-process (gloo) support.

    python tools/train_net.py --num-gpus 8 \
        --config-file configs/LVISv1-InstanceSegmentation/eql_mask_rcnn_R_50_FPN_1x.yaml
    python tools/train_net.py --config-file ... --eval-only MODEL.WEIGHTS output/model_final.pth
    python tools/train_net.py --config-file configs/quick_schedules/... --num-gpus 2 \
        MODEL.DEVICE cpu
"""

import logging
import os
import sys

from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.evaluation import verify_results
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

import eql  # noqa: F401  (registers eql's models and datasets)
from eql.checkpoint import EQLCheckpointer
from eql.config import load_config
from eql.data import register_synthetic_lvis
from eql.data.synthetic_semseg import register_synthetic_semseg
from eql.engine import Trainer, write_eval_results
from eql.errors import UserError
from eql.model_zoo import ModelZooError
from eql.validation import validate_run

logger = logging.getLogger("eql")


def prepare_config(args):
    """The run's config, its datasets registered; writes nothing."""
    cfg = load_config(args.config_file, args.opts)
    # category statistics are cached next to a dataset's json, or here when that is read-only
    os.environ.setdefault("EQL_CACHE_DIR", os.path.join(cfg.OUTPUT_DIR, "category_stats"))
    if cfg.TEST.LVIS.AP_FIXED and cfg.TEST.DETECTIONS_PER_IMAGE != -1:
        # AP^Fixed caps detections per class over the dataset, not per image
        logger.info("TEST.LVIS.AP_FIXED: TEST.DETECTIONS_PER_IMAGE set to -1 (no per-image cap)")
        cfg.TEST.DETECTIONS_PER_IMAGE = -1
    if cfg.DATASETS.SYNTHETIC.ROOT:
        register_synthetic_lvis(cfg.DATASETS.SYNTHETIC.ROOT, cfg.DATASETS.SYNTHETIC.PREFIX)
    if cfg.DATASETS.SYNTHETIC_SEMSEG.ROOT:
        register_synthetic_semseg(
            cfg.DATASETS.SYNTHETIC_SEMSEG.ROOT, cfg.DATASETS.SYNTHETIC_SEMSEG.PREFIX
        )
    cfg.freeze()
    return cfg


def validate(args) -> None:
    """The start-up validation (eql/validation.py), before any process starts or file is
    written."""
    validate_run(
        prepare_config(args),
        eval_only=args.eval_only,
        resume=args.resume,
        allow_random_weights=args.allow_random_weights,
        world_size=args.num_gpus * args.num_machines,
    )


def setup(args):
    cfg = prepare_config(args)
    default_setup(cfg, args)
    setup_logger(cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="eql")
    return cfg


def main(args):
    cfg = setup(args)
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


def argument_parser():
    parser = default_argument_parser()
    parser.add_argument(
        "--allow-random-weights",
        action="store_true",
        help="evaluate (--eval-only) without MODEL.WEIGHTS or with a checkpoint of another class "
        "count (refused by default: the metrics would be a random head's)",
    )
    return parser


def cli(argv=None):
    args = argument_parser().parse_args(argv)
    print("Command Line Args:", args)
    try:
        validate(args)  # user errors before any process starts or any file is written
        return launch(
            main,
            args.num_gpus,
            num_machines=args.num_machines,
            machine_rank=args.machine_rank,
            dist_url=args.dist_url,
            args=(args,),
        )
    except ModelZooError as e:  # e.g. offline: one clear message, no traceback
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except UserError as e:  # a bad file, key or value: one line, no traceback
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    cli()
