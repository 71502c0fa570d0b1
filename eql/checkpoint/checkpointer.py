"""Crash-safe checkpoints: detectron2's DetectionCheckpointer with atomic writes.

A checkpoint is written to a temporary file next to it, flushed to disk and renamed, and only
then is ``last_checkpoint`` (itself written the same way) pointed at it: a crash or kill -9 during
a save leaves the previous checkpoint and tag untouched, never a partial file under a checkpoint's
name. Temporary files left by killed processes are removed when a checkpointer is created. A
checkpoint that cannot be read (say, truncated by a copy) is refused with its name.
"""

import os

import torch
from detectron2.checkpoint import DetectionCheckpointer

from ..errors import CheckpointError
from ..utils.io import atomic_write, remove_stale_temporaries

LAST_CHECKPOINT = "last_checkpoint"


class EQLCheckpointer(DetectionCheckpointer):
    """DetectionCheckpointer with atomic saves and a clear error for unreadable files."""

    def __init__(self, model, save_dir="", **kwargs):
        super().__init__(model, save_dir, **kwargs)
        if self.save_dir and self.save_to_disk and os.path.isdir(self.save_dir):
            remove_stale_temporaries(self.save_dir)

    def save(self, name: str, **kwargs) -> None:
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        basename = f"{name}.pth"
        path = os.path.join(self.save_dir, basename)
        self.logger.info(f"Saving checkpoint to {path}")
        try:
            with atomic_write(path, "wb") as f:
                torch.save(data, f)
        except (OSError, RuntimeError) as e:  # torch.save reports a full disk as RuntimeError
            raise CheckpointError(
                f"{path}: could not save the checkpoint ({_first_line(e)}); the run stops here, "
                f"{self._kept()}"
            ) from None
        self.tag_last_checkpoint(basename)

    def _kept(self) -> str:
        tag = os.path.join(self.save_dir, LAST_CHECKPOINT)
        if not os.path.isfile(tag):
            return "no earlier checkpoint"
        with open(tag) as f:
            return f"the last checkpoint, {os.path.join(self.save_dir, f.read().strip())}, is kept"

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        with atomic_write(os.path.join(self.save_dir, LAST_CHECKPOINT)) as f:
            f.write(last_filename_basename)

    def _torch_load(self, f):
        try:
            return super()._torch_load(f)
        except Exception as e:  # torch.load's errors on a bad file vary (zip, pickle, index)
            raise CheckpointError(
                f"{f}: not a readable checkpoint, truncated or corrupt ({_first_line(e)}); delete "
                f"it, or point {LAST_CHECKPOINT} at an earlier checkpoint"
            ) from None


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"
