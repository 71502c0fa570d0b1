"""Crash-safe checkpoints (detectron2's DetectionCheckpointer with atomic writes)."""

from .checkpointer import LAST_CHECKPOINT, EQLCheckpointer

__all__ = ["EQLCheckpointer", "LAST_CHECKPOINT"]
