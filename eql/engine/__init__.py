"""Training glue: eql's Trainer (detectron2's DefaultTrainer with eql's evaluator, exact resume,
crash-safe checkpoints and a stop on divergence; ``lazy_trainer``: the same from a LazyConfig),
the start-up checks of a run, the guards of its OUTPUT_DIR, and launching (``launch``:
``--num-gpus``, torchrun, SLURM)."""

from .trainer import Trainer, ddp_device_ids, write_eval_results

__all__ = ["Trainer", "ddp_device_ids", "write_eval_results"]
