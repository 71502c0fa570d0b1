"""Helpers shared by the tests (see also conftest.py for fixtures)."""

import math
import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def sig(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def bce(z: float, y: float) -> float:
    """Binary cross-entropy of one logit, by hand."""
    p = sig(z)
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def _gloo_entry(rank, world_size, init_file, fn, args):
    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size
    )
    try:
        fn(rank, world_size, *args)
    finally:
        dist.destroy_process_group()


def run_gloo(fn, world_size: int, tmp_dir: str, *args) -> None:
    """Runs ``fn(rank, world_size, *args)`` in ``world_size`` CPU processes joined by a gloo
    process group; ``fn`` must be importable (a module-level function) and write what the test
    checks to files."""
    init_file = os.path.join(str(tmp_dir), "gloo_init")
    mp.spawn(_gloo_entry, args=(world_size, init_file, fn, args), nprocs=world_size, join=True)


def loss_state(module: torch.nn.Module) -> dict:
    """The persistent buffers of a module, as cloned tensors."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}
