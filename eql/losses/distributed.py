"""Summing statistics across processes, when there are several."""

import torch
import torch.distributed as dist


def world_size() -> int:
    """Number of processes of the default group; 1 without torch.distributed."""
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return dist.get_world_size()


def all_reduce_sum(*tensors: torch.Tensor) -> None:
    """Sums ``tensors`` over all processes, in place, in one collective. Does nothing in a single
    process (no torch.distributed, or a group of one), so a loss works the same with and without
    a launcher. Every process must call it the same number of times (also on an empty batch)."""
    if world_size() == 1 or not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    offset = 0
    for t in tensors:
        n = t.numel()
        t.copy_(flat[offset : offset + n].view_as(t))
        offset += n
