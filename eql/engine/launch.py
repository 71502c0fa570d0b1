"""Starting a run's processes: detectron2's ``launch`` (``--num-gpus``: this process spawns
them), or joining a job whose processes a cluster launcher started -- torchrun (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``) or SLURM's
``srun`` (``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID``, ...) -- through torch.distributed's
``env://`` rendezvous, with detectron2's per-machine process group as its ``comm`` module needs.

The launcher's variables are read and checked before anything starts (a contradiction is one
line naming the variable); every rank then checks that all ranks run the same config (seed and
OUTPUT_DIR included), and only the main process holds OUTPUT_DIR's lock and writes shared files.
"""

import contextlib
import os
import sys
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import torch
import torch.distributed as dist
import yaml
from detectron2.engine import launch
from detectron2.utils import comm
from torch.multiprocessing import ProcessExitedException

from ..errors import UserError
from ..model_zoo import ModelZooError
from .cluster_env import (
    RENDEZVOUS_TIMEOUT,
    ClusterJob,
    LauncherError,
    check_launch_options,
    cluster_job,
)
from .output_dir import RunLock


class AgreedError(UserError):
    """A problem every rank of a job raises together (one of them says it)."""


def _environment(job: ClusterJob) -> Dict[str, str]:
    return {
        "MASTER_ADDR": job.master_addr,
        "MASTER_PORT": str(job.master_port),
        "RANK": str(job.rank),
        "WORLD_SIZE": str(job.world_size),
        "LOCAL_RANK": str(job.local_rank),
    }


def join_job(job: ClusterJob, device: str) -> None:
    """Joins this process to its job's process group (``env://``) and creates detectron2's
    per-machine group; on CUDA, selects the GPU of the local rank."""
    cuda = device.startswith("cuda") and torch.cuda.is_available()
    gpu = local_gpu(job, torch.cuda.device_count()) if cuda else None
    os.environ.update(_environment(job))
    dist.init_process_group(
        backend="nccl" if cuda else "gloo",
        init_method="env://",
        world_size=job.world_size,
        rank=job.rank,
        timeout=RENDEZVOUS_TIMEOUT,
    )
    comm.create_local_process_group(job.local_world_size)
    if cuda:
        torch.cuda.set_device(gpu)
    comm.synchronize()


def local_gpu(job: ClusterJob, visible: int) -> int:
    """The GPU index of this process among the ``visible`` ones: its local rank when the machine's
    GPUs are all visible, 0 when the launcher gave each process its own GPU (one visible:
    ``srun --gpus-per-task 1``, a CUDA_VISIBLE_DEVICES per process)."""
    if visible >= job.local_world_size:
        return job.local_rank
    if visible == 1:
        return 0
    raise LauncherError(
        f"{job.local_world_size} processes per machine but {visible} GPUs visible to this one "
        "(one process per GPU: all GPUs visible to every process, or one each)"
    )


def agree(problem: Optional[str]) -> None:
    """Every rank passes its problem (None when fine); all raise UserError with the first one,
    so that no rank waits for another that stopped."""
    problems = [p for p in comm.all_gather(problem) if p is not None]
    if problems:
        raise AgreedError(problems[0])


def config_disagreement(dumps: List[str]) -> Optional[str]:
    """The first rank whose config (``cfg.dump()``) differs from rank 0's, with the keys."""

    def flat(node, prefix=""):
        if not isinstance(node, dict):
            return {prefix[:-1]: node}
        return {k: v for key, sub in node.items() for k, v in flat(sub, f"{prefix}{key}.").items()}

    for rank, dump in enumerate(dumps):
        if dump != dumps[0]:
            a, b = flat(yaml.safe_load(dumps[0])), flat(yaml.safe_load(dump))
            keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            return (
                f"rank {rank}'s config differs from rank 0's in {', '.join(keys) or 'its text'}: "
                "every process of a run must read the same config file and options"
            )
    return None


@dataclass(frozen=True)
class RunPlace:
    """What launching needs of a run's config: its folder, device and text (``cfg.dump()``)."""

    output_dir: str
    device: str
    config_text: str


def run_in_job(job: ClusterJob, worker: Callable, args, cfg, place: RunPlace):
    """``worker(args, cfg)`` in this process of ``job``: joins it, checks that every rank has the
    same config, holds OUTPUT_DIR's lock on the main process, and leaves the group at the end."""
    join_job(job, place.device)
    try:
        agree(config_disagreement(comm.all_gather(place.config_text)))
        lock = RunLock(place.output_dir) if comm.is_main_process() else contextlib.nullcontext()
        problem = None
        try:
            lock.__enter__()
        except UserError as e:
            problem = str(e)
        try:
            agree(problem)
            return worker(args, cfg)
        finally:
            lock.__exit__(None, None, None)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def start_run(worker: Callable, args, cfg, place: RunPlace, job: Optional[ClusterJob]):
    """The run's processes: this process joins ``job`` (a cluster launcher started it), or
    detectron2's ``launch`` spawns ``--num-gpus`` processes (holding OUTPUT_DIR's lock here, on
    the first machine)."""
    if job is not None:
        return run_in_job(job, worker, args, cfg, place)
    lock = RunLock(place.output_dir) if args.machine_rank == 0 else contextlib.nullcontext()
    with lock:
        return launch(
            worker,
            args.num_gpus,
            num_machines=args.num_machines,
            machine_rank=args.machine_rank,
            dist_url=args.dist_url,
            args=(args, cfg),
        )


def launch_from_command_line(args, validate: Callable, worker: Callable, place_of: Callable):
    """A training tool's run: the launcher's variables and options checked, ``validate(args,
    world_size)`` (the config, read and checked), then ``worker(args, cfg)`` in every process of
    the run (:func:`start_run`). A user error is one line and exit status 2 (1 for the model zoo
    offline), before anything starts where it can be."""
    job = None
    try:
        check_launch_options(args)
        job = cluster_job()
        if job is None and args.dist_url is None:
            args.dist_url = default_dist_url()
        cfg = validate(args, job.world_size if job else None)
        return start_run(worker, args, cfg, place_of(cfg), job)
    except ModelZooError as e:  # e.g. offline: one clear message, no traceback
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except UserError as e:  # a bad file, key or value: one line, no traceback
        if not isinstance(e, AgreedError) or job.rank == 0:  # all ranks have it: one says it
            print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except ProcessExitedException as e:
        if e.exit_code == 2:  # a spawned process printed its user error
            sys.exit(2)
        raise


def default_dist_url() -> str:
    """detectron2's deterministic port (an orphan process shows as the port in use)."""
    port = 2**15 + 2**14 + hash(os.getuid() if sys.platform != "win32" else 1) % 2**14
    return f"tcp://127.0.0.1:{port}"


def report_worker_errors(main: Callable, args, cfg):
    """``main(args, cfg)`` in a process of a run: a user error (a diverged loss, a checkpoint that
    cannot be saved) is one line from the main process, and exit status 2 in every other one."""
    try:
        return main(args, cfg)
    except UserError as e:
        if comm.get_world_size() == 1:
            raise  # the launching process itself: launch_from_command_line reports it
        if comm.is_main_process():
            print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(2)
