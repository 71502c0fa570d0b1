"""Training glue: eql's Trainer (detectron2's DefaultTrainer with eql's evaluator, exact resume,
crash-safe checkpoints and a stop on divergence) and the guards of a run's OUTPUT_DIR."""

from .trainer import Trainer, ddp_device_ids, write_eval_results

__all__ = ["Trainer", "ddp_device_ids", "write_eval_results"]
