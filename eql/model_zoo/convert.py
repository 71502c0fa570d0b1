"""Conversion of eql.detectron2 checkpoints (the official EQL code, a detectron2 v0.1 fork) to
eql's models.

The official box predictor has C class logits (``cls_score`` (C, D)); eql keeps detectron2's
C + 1 with a dummy background that gets no loss and whose score inference drops. The converter
appends that row (weight 0, bias = the prior-probability bias) and drops training state
(optimizer, scheduler, iteration). Other key names of that detectron2 v0.1 model are the ones
detectron2 still uses.
"""

import math
from typing import Dict

import torch

from ..errors import CheckpointError


def _cls_keys(state: Dict) -> list:
    """cls_score keys of every box predictor (one, or one per cascade stage)."""
    return [k for k in state if ".cls_score." in k and k.startswith("roi_heads.box_predictor")]


def convert_official_state_dict(
    state: Dict[str, torch.Tensor], num_classes: int, prior_prob: float = 0.001
) -> Dict[str, torch.Tensor]:
    """An eql state dict from an eql.detectron2 one with ``num_classes`` class logits; a state
    dict that already has C + 1 logits is returned unchanged."""
    out = dict(state)
    keys = _cls_keys(out)
    if not keys:
        raise CheckpointError("no roi_heads.box_predictor...cls_score weights in the checkpoint")
    for key in keys:
        t = torch.as_tensor(out[key])
        rows = t.shape[0]
        if rows == num_classes + 1:
            continue
        if rows != num_classes:
            raise CheckpointError(
                f"{key} has {rows} rows; expected {num_classes} (official) or "
                f"{num_classes + 1} (eql)"
            )
        if key.endswith(".weight"):
            extra = torch.zeros((1,) + tuple(t.shape[1:]), dtype=t.dtype)
        else:
            bias = -math.log((1 - prior_prob) / prior_prob) if prior_prob > 0 else 0.0
            extra = torch.full((1,), bias, dtype=t.dtype)
        out[key] = torch.cat([t, extra], dim=0)
    return out


def convert_official_checkpoint(
    checkpoint: Dict, num_classes: int, prior_prob: float = 0.001
) -> Dict:
    """A checkpoint dict for detectron2's DetectionCheckpointer: {"model": converted weights}
    (training state dropped)."""
    state = checkpoint.get("model", checkpoint)
    state = {k: torch.as_tensor(v) for k, v in state.items()}
    return {
        "model": convert_official_state_dict(state, num_classes, prior_prob),
        "__author__": "eql tools/convert_official_checkpoint.py",
    }
