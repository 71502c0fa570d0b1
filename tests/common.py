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
        dist.barrier()  # no rank tears the group down while another still communicates
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


def _gloo_loss_steps(rank, world_size, out_dir, make_loss, make_batch, steps, normalizer):
    from eql.losses import LossContext

    z, gt = make_batch()
    rows = slice(rank * len(gt) // world_size, (rank + 1) * len(gt) // world_size)
    loss = make_loss()
    for _ in range(steps):
        loss(z[rows], gt[rows], LossContext(normalizer=normalizer))
    torch.save(loss_state(loss), os.path.join(out_dir, f"rank{rank}.pth"))


def assert_statistics_summed_over_processes(
    tmp_dir, make_loss, make_batch, steps=3, normalizer=8.0
):
    """Two gloo processes, each with half of the batch, end with identical loss statistics, equal
    to one process without torch.distributed on the whole batch (a fixed normaliser). The
    factories must be module-level functions (they travel to the processes)."""
    from eql.losses import LossContext

    run_gloo(_gloo_loss_steps, 2, tmp_dir, str(tmp_dir), make_loss, make_batch, steps, normalizer)
    s0, s1 = (torch.load(os.path.join(str(tmp_dir), f"rank{r}.pth")) for r in (0, 1))
    z, gt = make_batch()
    single = make_loss()
    for _ in range(steps):
        single(z, gt, LossContext(normalizer=normalizer))
    assert set(s0) == set(single.state_dict())
    for k in s0:
        assert torch.equal(s0[k], s1[k]), k
        assert torch.allclose(s0[k], single.state_dict()[k], rtol=1e-5), k


def load_script(relative_path: str):
    """A script of the repository (tools/, benchmarks/, datasets/) loaded as a module, so that its
    ``main(argv)`` is called in-process."""
    import importlib.util

    from conftest import REPO

    name = relative_path.replace("/", "_").rsplit(".", 1)[0]
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, relative_path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
