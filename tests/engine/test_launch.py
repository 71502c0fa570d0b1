"""Cluster launching: tools/train_net.py joins a job that torchrun or SLURM's srun started
(eql/engine/launch.py) instead of spawning its own processes; contradicting launcher variables
and options are one line naming them, before anything starts; the processes of one job give the
checkpoint ``--num-gpus`` gives, bit for bit."""

import os
import socket
import subprocess
import sys

import pytest
from common import REPO, run_tool, synthetic_args, two_process_args

from eql.engine.cluster_env import (
    SLURM,
    SLURM_PORT_BASE,
    TORCHRUN,
    LauncherError,
    check_launch_options,
    cluster_job,
    first_host,
)
from eql.engine.launch import config_disagreement

TORCHRUN_ENV = {
    "RANK": "3",
    "WORLD_SIZE": "4",
    "LOCAL_RANK": "1",
    "LOCAL_WORLD_SIZE": "2",
    "GROUP_RANK": "1",
    "MASTER_ADDR": "node0",
    "MASTER_PORT": "29500",
}
SLURM_ENV = {
    "SLURM_JOB_ID": "123456",
    "SLURM_NTASKS": "8",
    "SLURM_PROCID": "5",
    "SLURM_LOCALID": "1",
    "SLURM_NODEID": "1",
    "SLURM_NNODES": "2",
    "SLURM_TASKS_PER_NODE": "4(x2)",
    "SLURM_NODELIST": "gpu[007-008]",
}


def test_a_torchrun_process_knows_its_place():
    job = cluster_job(TORCHRUN_ENV)
    assert (job.launcher, job.rank, job.world_size, job.local_rank) == (TORCHRUN, 3, 4, 1)
    assert (job.local_world_size, job.machine_rank, job.num_machines) == (2, 1, 2)
    assert (job.master_addr, job.master_port) == ("node0", 29500)


def test_an_srun_task_knows_its_place_and_rendezvous():
    job = cluster_job(SLURM_ENV)
    assert (job.launcher, job.rank, job.world_size, job.local_rank) == (SLURM, 5, 8, 1)
    assert (job.local_world_size, job.machine_rank, job.num_machines) == (4, 1, 2)
    # the first node of the list and a port from the job id: the same on every task
    assert (job.master_addr, job.master_port) == ("gpu007", SLURM_PORT_BASE + 123456 % 20000)
    given = cluster_job({**SLURM_ENV, "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "1234"})
    assert (given.master_addr, given.master_port) == ("10.0.0.1", 1234)
    uneven = {k: v for k, v in SLURM_ENV.items() if k != "SLURM_TASKS_PER_NODE"}
    assert cluster_job(uneven).local_world_size == 4  # SLURM_NTASKS / SLURM_NNODES


@pytest.mark.parametrize(
    "nodelist, host",
    [("n1", "n1"), ("gpu[003-005,9],cpu1", "gpu003"), ("a-b[12,15]", "a-b12"), ("x1,x2", "x1")],
)
def test_the_first_host_of_a_slurm_node_list(nodelist, host):
    assert first_host(nodelist) == host


def test_no_launcher_or_a_single_slurm_task_leaves_launching_to_num_gpus():
    assert cluster_job({}) is None
    assert cluster_job({"SLURM_NTASKS": "1", "SLURM_PROCID": "0", "SLURM_JOB_ID": "5"}) is None


BAD_ENVIRONMENTS = [
    ({**TORCHRUN_ENV, "RANK": "5", "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "1"}, "RANK=5"),
    ({**TORCHRUN_ENV, "WORLD_SIZE": "two"}, "WORLD_SIZE"),
    ({**TORCHRUN_ENV, "WORLD_SIZE": "0"}, "WORLD_SIZE"),
    ({**TORCHRUN_ENV, "LOCAL_RANK": "2"}, "LOCAL_RANK=2"),
    ({**TORCHRUN_ENV, "LOCAL_RANK": "0"}, "LOCAL_RANK=0"),
    ({**TORCHRUN_ENV, "LOCAL_WORLD_SIZE": "3", "LOCAL_RANK": "0"}, "LOCAL_WORLD_SIZE=3"),
    ({**TORCHRUN_ENV, "GROUP_RANK": "0"}, "GROUP_RANK=0"),
    ({k: v for k, v in TORCHRUN_ENV.items() if k != "RANK"}, "RANK"),
    ({k: v for k, v in TORCHRUN_ENV.items() if k != "MASTER_ADDR"}, "MASTER_ADDR"),
    ({**TORCHRUN_ENV, "MASTER_PORT": "70000"}, "MASTER_PORT"),
    ({"LOCAL_RANK": "0"}, "WORLD_SIZE"),
    ({**SLURM_ENV, "SLURM_PROCID": "8"}, "SLURM_PROCID=8"),
    ({**SLURM_ENV, "SLURM_LOCALID": "0"}, "SLURM_LOCALID=0"),
    ({**SLURM_ENV, "SLURM_NODEID": "0"}, "SLURM_NODEID=0"),
    ({**SLURM_ENV, "SLURM_TASKS_PER_NODE": "4,3"}, "SLURM_TASKS_PER_NODE"),
    ({**SLURM_ENV, "SLURM_TASKS_PER_NODE": "four"}, "SLURM_TASKS_PER_NODE"),
    ({**SLURM_ENV, "SLURM_TASKS_PER_NODE": "3(x2)", "SLURM_LOCALID": "2"}, "SLURM_NTASKS=8"),
    ({**SLURM_ENV, "SLURM_NODELIST": "[1-2]"}, "SLURM_NODELIST"),
    ({k: v for k, v in SLURM_ENV.items() if k != "SLURM_NODELIST"}, "MASTER_ADDR"),
    ({k: v for k, v in SLURM_ENV.items() if k != "SLURM_JOB_ID"}, "MASTER_PORT"),
]


@pytest.mark.parametrize("env, named", BAD_ENVIRONMENTS)
def test_contradicting_launcher_variables_are_refused_naming_them(env, named):
    with pytest.raises(LauncherError) as e:
        cluster_job(env)
    assert named in str(e.value) and "\n" not in str(e.value)


def test_the_configs_of_the_ranks_must_agree():
    dumps = ["SEED: 3\nSOLVER:\n  BASE_LR: 0.1\n", "SEED: 3\nSOLVER:\n  BASE_LR: 0.2\n"]
    assert config_disagreement([dumps[0], dumps[0]]) is None
    assert "rank 1" in config_disagreement(dumps) and "SOLVER.BASE_LR" in config_disagreement(dumps)


@pytest.mark.parametrize(
    "env, options, named",
    [
        (TORCHRUN_ENV, ["--num-gpus", "2"], ["--num-gpus 2", "WORLD_SIZE=4"]),
        (SLURM_ENV, ["--num-gpus", "4"], ["--num-gpus 4", "SLURM_NTASKS=8"]),
        (SLURM_ENV, ["--num-machines", "2"], ["--num-machines 2", "SLURM_NTASKS=8"]),
        (TORCHRUN_ENV, ["--dist-url", "tcp://x:1"], ["--dist-url", "WORLD_SIZE=4"]),
        ({**TORCHRUN_ENV, "RANK": "9"}, [], ["RANK=9", "WORLD_SIZE=4"]),
    ],
)
def test_train_net_refuses_a_contradiction_before_anything_starts(
    tiny_synthetic, tmp_path, monkeypatch, env, options, named
):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    out = tmp_path / "out"
    code, err, _ = run_tool("train_net", [*options, *synthetic_args(tiny_synthetic, out)])
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert all(n in lines[0] for n in named), lines[0]
    assert not out.exists()


# --- the same run started four ways (CPU, gloo): every checkpoint equal to the byte


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_args(tiny_synthetic, out, *opts):
    """train_net's arguments of the 2-process CPU run, without its launch options."""
    args = two_process_args(tiny_synthetic, out)
    assert args[:4] == ["--num-gpus", "2", "--dist-url", "auto"]
    return [*args[4:], "DATASETS.TEST", "()", "SEED", "0", *opts]


def run_processes(commands, timeout=600):
    """Starts the commands ((argv, extra env) pairs) together; returns their (code, output)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "MASTER_"))}
    # torchrun sets OMP_NUM_THREADS=1 in each process; CPU sums depend on the thread count
    base.update(PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    procs = [
        subprocess.Popen(
            argv,
            env={**base, **env},
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for argv, env in commands
    ]
    return [(p.wait(timeout=timeout), p.stdout.read()) for p in procs]


TRAIN_NET = os.path.join(REPO, "tools", "train_net.py")
TORCHRUN_BIN = [sys.executable, "-m", "torch.distributed.run"]


@pytest.mark.slow
def test_torchrun_and_srun_give_num_gpus_checkpoint_bit_for_bit(tiny_synthetic, tmp_path):
    # a multi-node torchrun's variables (GROUP_RANK, LOCAL_WORLD_SIZE < WORLD_SIZE) are read the
    # same way: test_a_torchrun_process_knows_its_place; srun's two "nodes" show the multi-node
    # rendezvous end to end
    outs = {k: tmp_path / k for k in ("num_gpus", "torchrun", "slurm")}
    reference = [sys.executable, TRAIN_NET, "--num-gpus", "2", "--dist-url", "auto"]
    ((code, log),) = run_processes([(reference + run_args(tiny_synthetic, outs["num_gpus"]), {})])
    assert code == 0, log[-3000:]
    port = str(free_port())
    torchrun = TORCHRUN_BIN + ["--nproc-per-node", "2", "--master-port", port, TRAIN_NET]
    ((code, log),) = run_processes([(torchrun + run_args(tiny_synthetic, outs["torchrun"]), {})])
    assert code == 0 and "World size: 2" in log, log[-3000:]
    # srun simulated: two tasks on two "nodes" of one task each, rendezvous on localhost
    slurm = {"SLURM_JOB_ID": "42", "SLURM_NTASKS": "2", "SLURM_NNODES": "2"}
    slurm.update(SLURM_NODELIST="localhost", MASTER_PORT=str(free_port()))
    tasks = [
        (
            [sys.executable, TRAIN_NET, *run_args(tiny_synthetic, outs["slurm"])],
            {**slurm, "SLURM_PROCID": str(r), "SLURM_LOCALID": "0", "SLURM_NODEID": str(r)},
        )
        for r in range(2)
    ]
    for code, log in run_processes(tasks):
        assert code == 0, log[-3000:]
    first = (outs["num_gpus"] / "model_final.pth").read_bytes()
    for name, out in outs.items():
        assert (out / "model_final.pth").read_bytes() == first, name
        assert (out / "log.txt.rank1").is_file() and not (out / "log.txt.rank2").exists()


def test_ranks_that_read_different_configs_stop_together(tiny_synthetic, tmp_path):
    out = tmp_path / "out"
    slurm = {"SLURM_JOB_ID": "7", "SLURM_NTASKS": "2", "SLURM_NODELIST": "localhost"}
    slurm["MASTER_PORT"] = str(free_port())
    tasks = [
        (
            [sys.executable, TRAIN_NET, *run_args(tiny_synthetic, out, "SOLVER.BASE_LR", lr)],
            {**slurm, "SLURM_PROCID": str(r), "SLURM_LOCALID": str(r)},
        )
        for r, lr in enumerate(("0.01", "0.02"))
    ]
    (c0, log0), (c1, log1) = run_processes(tasks)
    assert (c0, c1) == (2, 2), log0[-2000:] + log1[-2000:]
    said = [x for x in (log0 + log1).splitlines() if x.startswith("error: ")]
    assert len(said) == 1 and "rank 1's config differs" in said[0] and "SOLVER.BASE_LR" in said[0]
    assert not (out / "model_final.pth").exists() and "Traceback" not in log0 + log1


def test_check_launch_options_without_a_launcher_accepts_them():
    class Args:
        num_gpus, num_machines, machine_rank, dist_url = 8, 2, 1, "tcp://h:1"

    check_launch_options(Args(), {})
    check_launch_options(Args(), {"SLURM_NTASKS": "1", "SLURM_PROCID": "0"})


def test_each_process_takes_its_gpu_whether_it_sees_all_or_its_own():
    from eql.engine.launch import local_gpu
    from eql.engine.trainer import ddp_device_ids

    job = cluster_job(TORCHRUN_ENV)  # local rank 1 of 2
    assert local_gpu(job, 2) == 1 and local_gpu(job, 8) == 1  # every GPU visible
    assert local_gpu(job, 1) == 0  # srun --gpus-per-task 1: its own GPU only
    with pytest.raises(LauncherError, match="2 processes per machine but 0 GPUs"):
        local_gpu(job, 0)
    assert ddp_device_ids("cpu") is None and ddp_device_ids("cuda:3") == [3]
