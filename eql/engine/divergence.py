"""Stopping a run whose loss is no longer finite, before the step that would spread it.

The check runs on each training forward's loss dict (a forward hook on the model, before the
backward pass and the optimizer step, so the weights are still the last finite ones). In a
multi-process run the processes agree through one all-reduce of a flag, so that every process
stops at the same iteration instead of waiting for a gradient that never comes. The run then
ends without a checkpoint or an evaluation of the diverged model (eql/engine/trainer.py), with
one line naming the iteration and the loss terms.
"""

import math
from typing import Callable, Dict

import torch
import torch.distributed as dist

from ..errors import UserError


class TrainingDiverged(UserError):
    """The training loss became NaN or infinite; the message names the iteration and terms."""


def finite_loss_hook(iteration: Callable[[], int]):
    """A forward hook for the model: raises TrainingDiverged when a training forward returns a
    loss dict with a non-finite term. ``iteration()`` gives the trainer's current iteration."""

    def hook(module, inputs, output):
        if not module.training or not isinstance(output, dict):
            return
        values = torch.stack([v.detach().float().sum() for v in output.values()]).cpu().tolist()
        terms: Dict[str, float] = dict(zip(output, values))  # one copy to the host
        bad = any(not math.isfinite(v) for v in terms.values())
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            flag = torch.tensor([float(bad)], device=next(iter(output.values())).device)
            dist.all_reduce(flag)
            if flag.item() > 0 and not bad:
                raise TrainingDiverged(
                    f"training diverged at iteration {iteration()}: another process's loss is "
                    "not finite"
                )
        if bad:
            broken = ", ".join(f"{k} is {v}" for k, v in terms.items() if not math.isfinite(v))
            finite = ", ".join(f"{k} {v:.4g}" for k, v in terms.items() if math.isfinite(v))
            raise TrainingDiverged(
                f"training diverged at iteration {iteration()}: {broken}"
                + (f" (finite: {finite})" if finite else "")
            )

    return hook
