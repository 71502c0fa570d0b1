"""Training glue: detectron2's DefaultTrainer with eql's evaluator and CPU multi-process DDP."""

import logging
import os
import weakref

import torch
from detectron2.engine import AMPTrainer, DefaultTrainer, SimpleTrainer, TrainerBase
from detectron2.engine.defaults import create_ddp_model
from detectron2.engine.hooks import IterationTimer, PeriodicWriter
from detectron2.evaluation import DatasetEvaluators, verify_results
from detectron2.utils import comm
from detectron2.utils.events import EventStorage
from detectron2.utils.logger import setup_logger

from ..checkpoint import LAST_CHECKPOINT, EQLCheckpointer
from ..data.train_stream import StepSeeder, StreamPosition, build_reproducible_train_loader
from ..diagnostics.gradient_stats import build_gradient_stats_hook
from ..errors import UserError
from ..evaluation import LongTailSemSegEvaluator, LVISEvaluator
from .divergence import TrainingDiverged, finite_loss_hook
from .validation import check_training_setup


def ddp_device_ids(device: str):
    """``device_ids`` for DistributedDataParallel: the process's GPU (the index in ``device``, else
    the current one, which the launch selected), or None for a CPU model (DDP rejects device ids
    for CPU modules; detectron2's create_ddp_model always passes them)."""
    if not str(device).startswith("cuda"):
        return None
    return [torch.device(device).index if ":" in str(device) else torch.cuda.current_device()]


class Trainer(DefaultTrainer):
    """DefaultTrainer that (1) builds DDP with the right ``device_ids`` on CPU and GPU, (2)
    evaluates LVIS-format datasets with :class:`eql.evaluation.LVISEvaluator`, (3) trains on a
    data stream and RNGs that ``--resume`` continues exactly (eql/data/train_stream.py), (4)
    writes checkpoints atomically (eql/checkpoint/checkpointer.py) and (5) stops, without saving
    or evaluating, when the loss is no longer finite or a checkpoint cannot be saved
    (eql/engine/divergence.py).
    """

    def __init__(self, cfg):
        # DefaultTrainer.__init__ with create_ddp_model(..., device_ids=ddp_device_ids(...)).
        TrainerBase.__init__(self)
        logger = logging.getLogger("detectron2")
        if not logger.isEnabledFor(logging.INFO):
            setup_logger()
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())
        check_training_setup(cfg, comm.get_world_size())  # AMP device, sampler, batch split
        # the seed of the data stream and of every step; saved with the trainer's state
        self.stream_position = StreamPosition(
            seed=cfg.SEED if cfg.SEED >= 0 else comm.shared_random_seed()
        )

        model = self.build_model(cfg)
        # the loss is checked before its backward pass (weights still finite)
        model.register_forward_hook(finite_loss_hook(lambda: self.iter))
        optimizer = self.build_optimizer(cfg, model)
        data_loader = build_reproducible_train_loader(cfg, self.stream_position)
        model = create_ddp_model(
            model, broadcast_buffers=False, device_ids=ddp_device_ids(cfg.MODEL.DEVICE)
        )
        self._trainer = (AMPTrainer if cfg.SOLVER.AMP.ENABLED else SimpleTrainer)(
            model, data_loader, optimizer
        )
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = EQLCheckpointer(model, cfg.OUTPUT_DIR, trainer=weakref.proxy(self))
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.output_dir = cfg.OUTPUT_DIR
        built = self.build_hooks()
        # the hooks whose end still runs when training fails: they record, never save or evaluate
        self._recorders = [h for h in built if isinstance(h, (IterationTimer, PeriodicWriter))]
        self.register_hooks(built)

    def run_step(self):
        """detectron2's step; its own divergence checks (non-finite boxes or scores in the
        proposals, a non-finite reduced loss) end the run as :class:`TrainingDiverged` too."""
        try:
            super().run_step()
        except FloatingPointError as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else "FloatingPointError"
            raise TrainingDiverged(f"training diverged at iteration {self.iter}: {first}") from None

    def resume_or_load(self, resume=True):
        super().resume_or_load(resume=resume)
        self.stream_position.start_batch = self.start_iter  # batches already trained

    def train(self):
        """Trains, and returns the results of the evaluation after the last iteration (detectron2
        returns them only when TEST.EXPECTED_RESULTS is set).

        detectron2's loop (TrainerBase.train), except when training fails: a non-finite loss
        (:class:`TrainingDiverged`), a checkpoint that cannot be saved, an interruption. Then
        only the hooks that record what happened run their end (the metrics writers, the timer):
        no final checkpoint and no evaluation of the model, and a user error is not logged as a
        traceback."""
        logger = logging.getLogger(__name__)
        logger.info(f"Starting training from iteration {self.start_iter}")
        self.iter = self.start_iter
        with EventStorage(self.start_iter) as self.storage:
            try:
                self.before_train()
                for self.iter in range(self.start_iter, self.max_iter):
                    self.before_step()
                    self.run_step()
                    self.after_step()
                self.iter += 1  # == max_iter: detectron2's hooks read it as a finished run
            except BaseException as e:
                for h in self._recorders:
                    h.after_train()
                if isinstance(e, TrainingDiverged):
                    raise TrainingDiverged(f"{e}; {self._kept_checkpoint()}") from None
                if not isinstance(e, UserError):
                    logger.exception("Exception during training:")
                raise
            self.after_train()
        self.verify_results()
        return getattr(self, "_last_eval_results", None)

    def verify_results(self) -> None:
        """TEST.EXPECTED_RESULTS, checked after training."""
        if len(self.cfg.TEST.EXPECTED_RESULTS) and comm.is_main_process():
            verify_results(self.cfg, self._last_eval_results)

    def _kept_checkpoint(self) -> str:
        tag = os.path.join(self.output_dir, LAST_CHECKPOINT)
        kept = "no checkpoint was saved before"
        if os.path.isfile(tag):
            with open(tag) as f:
                last = os.path.join(self.output_dir, f.read().strip())
                kept = f"the last checkpoint, {last}, is kept"
        return f"{kept}; the diverged model was neither saved nor evaluated"

    def build_hooks(self):
        """detectron2's hooks, after the per-step seeding of the RNGs, plus the gradient
        diagnostics of MODEL.EQL.GRADIENT_STATS (before the writer, so that its scalars are
        written in the same iteration)."""
        hooks = [StepSeeder(self.stream_position), *super().build_hooks()]
        grad_hook = build_gradient_stats_hook(self.cfg)
        if grad_hook is not None:
            writers = [i for i, h in enumerate(hooks) if isinstance(h, PeriodicWriter)]
            hooks.insert(writers[-1] if writers else len(hooks), grad_hook)
        return hooks

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        """Semantic segmentation sets (``evaluator_type`` "sem_seg"): detectron2's mIoU with the
        r/c/f split; every other set: eql's LVIS evaluator."""
        from detectron2.data import MetadataCatalog

        if output_folder is None:
            output_folder = os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        if getattr(MetadataCatalog.get(dataset_name), "evaluator_type", None) == "sem_seg":
            return LongTailSemSegEvaluator(dataset_name, output_dir=output_folder)
        return DatasetEvaluators(
            [
                LVISEvaluator(
                    dataset_name,
                    output_dir=output_folder,
                    max_dets_per_image=cfg.TEST.LVIS.MAX_DETS_PER_IMAGE,
                    engine=cfg.TEST.LVIS.ENGINE,
                    ap_fixed=cfg.TEST.LVIS.AP_FIXED,
                    dets_per_class=cfg.TEST.LVIS.DETS_PER_CLASS,
                    reports=cfg.TEST.LVIS.REPORTS,
                )
            ]
        )


def write_eval_results(output_dir: str, results, iteration: int = 0) -> None:
    """Puts evaluation results ("bbox/AP", "bbox/APr", ...) into TensorBoard event files and a
    line of ``output_dir/metrics.json``, as detectron2's EvalHook does during training (used by
    --eval-only, so that tools/summarize_runs.py reads evaluated checkpoints as it reads runs)."""
    from detectron2.evaluation.testing import flatten_results_dict
    from detectron2.utils.events import EventStorage, JSONWriter, TensorboardXWriter

    scalars = {k: float(v) for k, v in flatten_results_dict(results).items()}
    if not scalars:
        return
    with EventStorage(iteration) as storage:
        storage.put_scalars(**scalars, smoothing_hint=False)
        for writer in (
            TensorboardXWriter(output_dir),
            JSONWriter(os.path.join(output_dir, "metrics.json")),
        ):
            writer.write()
            writer.close()
