"""The place of this process in a job that a cluster launcher started: torchrun (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``) or SLURM's
``srun`` (``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID``, ...), read from the environment
and checked before anything starts: a missing or contradicting variable is one line naming it."""

import datetime
import os
import re
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

from ..errors import UserError

TORCHRUN = "torchrun"
SLURM = "SLURM"
# variables that mean "torchrun (or torch.distributed.launch) started this process"
TORCHRUN_MARKS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "TORCHELASTIC_RUN_ID")
# a SLURM port when MASTER_PORT is not given: the same on every task of a job, from its id
SLURM_PORT_BASE, SLURM_PORT_SPAN = 20000, 20000
RENDEZVOUS_TIMEOUT = datetime.timedelta(minutes=30)


class LauncherError(UserError):
    """Launcher variables or options that contradict each other; the message names them."""


@dataclass(frozen=True)
class ClusterJob:
    """This process's place in a job a cluster launcher started."""

    launcher: str  # TORCHRUN or SLURM
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int  # processes per machine (the same on every machine)
    master_addr: str
    master_port: int

    @property
    def machine_rank(self) -> int:
        return self.rank // self.local_world_size

    @property
    def num_machines(self) -> int:
        return self.world_size // self.local_world_size


def _int(env: Mapping[str, str], name: str, minimum: int) -> int:
    if name not in env:
        raise LauncherError(f"{name}: not set (needed with the launcher's other variables)")
    try:
        value = int(env[name])
    except ValueError:
        raise LauncherError(f"{name}: an integer, got {env[name]!r}") from None
    if value < minimum:
        raise LauncherError(f"{name}: at least {minimum}, got {value}")
    return value


def _below(env: Mapping[str, str], name: str, value: int, bound_name: str, bound: int) -> None:
    if value >= bound:
        raise LauncherError(f"{name}={env[name]} is not below {bound_name}={bound}")


def _port(env: Mapping[str, str], name: str) -> int:
    port = _int(env, name, 1)
    if port > 65535:
        raise LauncherError(f"{name}: a port number (1-65535), got {port}")
    return port


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list: 'gpu[003-005,9],cpu1' -> 'gpu003'."""
    match = re.match(r"^([^,\[]+)(?:\[([^\]]*)\])?", nodelist.strip())
    if not match or not match.group(1):
        raise LauncherError(f"SLURM_NODELIST: not a node list, got {nodelist!r}")
    prefix, ranges = match.group(1), match.group(2)
    if ranges is None:
        return prefix
    first = re.match(r"^(\d+)", ranges)
    if not first:
        raise LauncherError(f"SLURM_NODELIST: not a node list, got {nodelist!r}")
    return prefix + first.group(1)


def _tasks_per_node(env: Mapping[str, str], world_size: int) -> int:
    """Tasks per node of a SLURM job; eql needs the same number on every node."""
    for name in ("SLURM_NTASKS_PER_NODE", "SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"):
        if name in env:
            counts = []
            for part in env[name].split(","):
                m = re.fullmatch(r"(\d+)(?:\(x(\d+)\))?", part.strip())
                if not m:
                    raise LauncherError(f"{name}: like '4' or '4(x2)', got {env[name]!r}")
                counts += [int(m.group(1))] * int(m.group(2) or 1)
            if len(set(counts)) != 1 or counts[0] < 1:
                raise LauncherError(
                    f"{name}={env[name]}: eql needs the same number of tasks on every node"
                )
            return counts[0]
    nodes = _int(env, "SLURM_NNODES", 1) if "SLURM_NNODES" in env else 1
    if world_size % nodes:
        raise LauncherError(
            f"SLURM_NTASKS={world_size} is not a multiple of SLURM_NNODES={nodes}: eql needs the "
            "same number of tasks on every node"
        )
    return world_size // nodes


def _torchrun_job(env: Mapping[str, str]) -> ClusterJob:
    world = _int(env, "WORLD_SIZE", 1)
    rank = _int(env, "RANK", 0)
    _below(env, "RANK", rank, "WORLD_SIZE", world)
    local_rank = _int(env, "LOCAL_RANK", 0)
    local_world = _int(env, "LOCAL_WORLD_SIZE", 1) if "LOCAL_WORLD_SIZE" in env else world
    _below(env, "LOCAL_RANK", local_rank, "LOCAL_WORLD_SIZE", local_world)
    if world % local_world:
        raise LauncherError(
            f"WORLD_SIZE={world} is not a multiple of LOCAL_WORLD_SIZE={local_world}: eql needs "
            "the same number of processes on every machine"
        )
    if rank % local_world != local_rank:
        raise LauncherError(
            f"RANK={rank} and LOCAL_RANK={local_rank} disagree with LOCAL_WORLD_SIZE="
            f"{local_world} (a machine's processes are ranks machine x LOCAL_WORLD_SIZE + "
            "LOCAL_RANK)"
        )
    if "GROUP_RANK" in env and _int(env, "GROUP_RANK", 0) != rank // local_world:
        raise LauncherError(
            f"GROUP_RANK={env['GROUP_RANK']} disagrees with RANK={rank} and LOCAL_WORLD_SIZE="
            f"{local_world}"
        )
    if "MASTER_ADDR" not in env:
        raise LauncherError("MASTER_ADDR: not set (the rendezvous host, set by torchrun)")
    return ClusterJob(
        TORCHRUN,
        rank,
        world,
        local_rank,
        local_world,
        env["MASTER_ADDR"],
        _port(env, "MASTER_PORT"),
    )


def _slurm_job(env: Mapping[str, str]) -> ClusterJob:
    world = _int(env, "SLURM_NTASKS", 1)
    rank = _int(env, "SLURM_PROCID", 0)
    _below(env, "SLURM_PROCID", rank, "SLURM_NTASKS", world)
    local_rank = _int(env, "SLURM_LOCALID", 0)
    local_world = _tasks_per_node(env, world)
    _below(env, "SLURM_LOCALID", local_rank, "tasks per node", local_world)
    if world % local_world:
        raise LauncherError(
            f"SLURM_NTASKS={world} is not a multiple of {local_world} tasks per node: eql needs "
            "the same number of tasks on every node"
        )
    if rank % local_world != local_rank or (
        "SLURM_NODEID" in env and _int(env, "SLURM_NODEID", 0) != rank // local_world
    ):
        raise LauncherError(
            f"SLURM_PROCID={rank}, SLURM_LOCALID={local_rank} and SLURM_NODEID="
            f"{env.get('SLURM_NODEID', '?')} are not a block distribution of {local_world} tasks "
            "per node: start the tasks with srun --distribution=block"
        )
    if "MASTER_ADDR" in env:
        addr = env["MASTER_ADDR"]
    elif "SLURM_NODELIST" in env or "SLURM_JOB_NODELIST" in env:
        addr = first_host(env.get("SLURM_NODELIST", env.get("SLURM_JOB_NODELIST", "")))
    else:
        raise LauncherError("MASTER_ADDR: not set, and no SLURM_NODELIST to take the first node of")
    if "MASTER_PORT" in env:
        port = _port(env, "MASTER_PORT")
    elif "SLURM_JOB_ID" in env:
        port = SLURM_PORT_BASE + _int(env, "SLURM_JOB_ID", 0) % SLURM_PORT_SPAN
    else:
        raise LauncherError("MASTER_PORT: not set, and no SLURM_JOB_ID to derive a port from")
    return ClusterJob(SLURM, rank, world, local_rank, local_world, addr, port)


def cluster_job(env: Optional[Mapping[str, str]] = None) -> Optional[ClusterJob]:
    """This process's job when torchrun (its variables win: ``srun torchrun ...``) or SLURM (a
    job of more than one task) started it; None for a process started by hand, whose
    ``--num-gpus`` spawns the run's processes. Raises LauncherError naming a missing or
    contradicting variable."""
    env = os.environ if env is None else env
    found = launcher_of(env)
    if found is None:
        return None
    return _torchrun_job(env) if found[0] == TORCHRUN else _slurm_job(env)


def launcher_of(env: Optional[Mapping[str, str]] = None) -> Optional[Tuple[str, str]]:
    """(launcher, the variable with its world size) when a cluster launcher started this
    process, else None; see :func:`cluster_job`."""
    env = os.environ if env is None else env
    if any(name in env for name in TORCHRUN_MARKS):
        return TORCHRUN, f"WORLD_SIZE={env.get('WORLD_SIZE', '?')}"
    if "SLURM_PROCID" in env and "SLURM_NTASKS" in env and _int(env, "SLURM_NTASKS", 1) > 1:
        return SLURM, f"SLURM_NTASKS={env['SLURM_NTASKS']}"
    return None


def check_launch_options(args, env: Optional[Mapping[str, str]] = None) -> None:
    """Refuses eql's own launch options (``--num-gpus`` ...; ``args``: train_net's) where a
    cluster launcher started the process: the launcher decides the run's processes."""
    found = launcher_of(env)
    if found is None:
        return
    launcher, size = found
    given = {
        "--num-gpus": (args.num_gpus, 1),
        "--num-machines": (args.num_machines, 1),
        "--machine-rank": (args.machine_rank, 0),
        "--dist-url": (args.dist_url, None),
    }
    for option, (value, alone) in given.items():
        if value != alone:
            raise LauncherError(
                f"{option} {value} with {size}: {launcher} started this process and decides the "
                f"run's processes (one per GPU); drop {option}"
            )
