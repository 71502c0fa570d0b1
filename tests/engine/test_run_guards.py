"""Run guards (eql/engine): OUTPUT_DIR checked before any process starts, one run at a time per
OUTPUT_DIR, a non-finite loss stops training without saving or evaluating the diverged model, and
a failed checkpoint save stops the run. Each is a row of docs/robustness.md (ROBUSTNESS_CASES)."""

import errno
import json
import os
import subprocess
import sys
import time

import pytest
from common import INSTANT_CONFIG, REPO, Env, run_tool, train_net_process

# docs/robustness.md's rows -> the test of each (tests/robustness/test_robustness.py checks)
ROBUSTNESS_CASES = {
    "R01-output-dir-is-a-file": "test_R01_output_dir_is_a_file",
    "R02-output-dir-under-a-file": "test_R02_output_dir_under_a_file",
    "R03-output-dir-not-writable": "test_R03_output_dir_not_writable",
    "R04-output-dir-too-small": "test_R04_output_dir_too_small_for_a_checkpoint",
    "R05-second-run-into-one-output-dir": "test_R05_second_run_into_one_output_dir_stops_at_once",
    "R06-two-real-runs-into-one-output-dir": "test_R06_two_real_runs_into_one_output_dir",
    "R07-loss-becomes-nan": "test_R07_loss_becomes_nan",
    "R08-loss-diverges-in-two-processes": "test_R08_loss_diverges_in_two_processes",
    "R09-checkpoint-save-fails": "test_R09_checkpoint_save_fails",
}


def _one_error(code, err, *culprits):
    assert "Traceback" not in err, err[-3000:]
    assert code == 2, err[-3000:]
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err[-3000:]
    for culprit in culprits:
        assert culprit in lines[0], (culprit, lines[0])
    return lines[0]


def _files(folder):
    return sorted(
        os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs
    )


def test_R01_output_dir_is_a_file(tiny_synthetic, tmp_path):
    env = Env(tmp_path, tiny_synthetic)
    env.out.write_text("not a folder")
    code, err, _ = run_tool("train_net", env.train_argv())
    _one_error(code, err, "OUTPUT_DIR", str(env.out), "is a file")
    assert env.out.read_text() == "not a folder"


def test_R02_output_dir_under_a_file(tiny_synthetic, tmp_path):
    env = Env(tmp_path, tiny_synthetic)
    (tmp_path / "file").write_text("x")
    argv = env.train_argv("OUTPUT_DIR", str(tmp_path / "file" / "run"))
    code, err, _ = run_tool("train_net", argv)
    _one_error(code, err, "OUTPUT_DIR", "is under a file")


def test_R03_output_dir_not_writable(tiny_synthetic, tmp_path):
    """/proc refuses new files to every user, root included (a chmod does not stop root)."""
    env = Env(tmp_path, tiny_synthetic)
    code, err, _ = run_tool("train_net", env.train_argv("OUTPUT_DIR", "/proc/eql_run"))
    _one_error(code, err, "OUTPUT_DIR", "cannot write in /proc")


def test_R04_output_dir_too_small_for_a_checkpoint(tiny_synthetic, tmp_path, monkeypatch):
    import shutil

    usage = shutil.disk_usage(str(tmp_path))
    monkeypatch.setattr(
        "eql.engine.output_dir.shutil.disk_usage", lambda p: usage._replace(free=2**20)
    )
    env = Env(tmp_path, tiny_synthetic)
    code, err, _ = run_tool("train_net", env.train_argv())
    line = _one_error(code, err, "OUTPUT_DIR", "1.0 MiB free", "a checkpoint of this model needs")
    assert not env.out.exists()
    assert f"{_estimate() / 2**20:.1f} MiB" in line


def _estimate():
    """The estimated checkpoint of the instant config: parameters and buffers, and the
    optimizer's state (test_R07 compares it with a real checkpoint)."""
    from eql.config import load_config
    from eql.engine.output_dir import estimated_checkpoint_bytes

    return estimated_checkpoint_bytes(
        load_config(INSTANT_CONFIG, ["MODEL.EQL.FREQUENCY_SOURCE", "none"])
    )


def test_R05_second_run_into_one_output_dir_stops_at_once(tiny_synthetic, tmp_path):
    """A run holds OUTPUT_DIR (here, a run lock taken as train_net takes it); a second run into it
    stops before starting, naming the first; once the first is gone, the folder is free."""
    from eql.engine.output_dir import RunLock

    env = Env(tmp_path, tiny_synthetic)
    with RunLock(str(env.out), command="tools/train_net.py (the first run)"):
        before = _files(env.out)
        start = time.time()
        code, err, _ = run_tool("train_net", env.train_argv())
        _one_error(code, err, "OUTPUT_DIR", "in use by another run", f"pid {os.getpid()}")
        assert "the first run" in err and time.time() - start < 30
        assert _files(env.out) == before
    with RunLock(str(env.out)):
        pass  # released


@pytest.mark.slow
def test_R06_two_real_runs_into_one_output_dir(tiny_synthetic, tmp_path):
    """Two train_net processes: the second exits 2 at once naming the first, which is still
    training; once the first is killed (-9), the folder is free again (the system released the
    lock with the process)."""
    import signal

    from eql.engine.output_dir import RunLock

    env = Env(tmp_path, tiny_synthetic)
    argv = env.train_argv("SOLVER.MAX_ITER", "1000", "SOLVER.CHECKPOINT_PERIOD", "1000")
    cmd = [sys.executable, os.path.join(REPO, "tools", "train_net.py"), *argv]
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        lock = env.out / ".eql_run.lock"
        deadline = time.time() + 120
        while not (lock.exists() and lock.read_text()) and time.time() < deadline:
            time.sleep(0.2)
        code, output = train_net_process(*argv, timeout=300)  # forked warm: seconds sooner
        _one_error(code, output, "in use by another run", f"pid {first.pid}")
        assert first.poll() is None  # the first still trains
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    with RunLock(str(env.out)):
        pass


def _nan_from(iteration, monkeypatch):
    """The classification loss returns NaN from training iteration ``iteration`` on."""
    import torch

    from eql.losses import SigmoidEQL

    forward, calls = SigmoidEQL.forward, []

    def poisoned(self, logits, gt_classes, context=None):
        calls.append(1)
        loss = forward(self, logits, gt_classes, context)
        return loss * torch.nan if len(calls) > iteration else loss

    monkeypatch.setattr(SigmoidEQL, "forward", poisoned)


def _assert_not_saved_nor_evaluated(out, kept):
    files = _files(out)
    assert "model_final.pth" not in files
    assert not any(f.startswith("inference") for f in files), files
    assert (out / "last_checkpoint").read_text() == kept
    metrics = [json.loads(ln) for ln in (out / "metrics.json").read_text().splitlines()]
    assert not any(k.startswith("bbox/") for m in metrics for k in m)


def test_R07_loss_becomes_nan(tiny_synthetic, tmp_path, monkeypatch):
    """Iteration 3's loss is NaN: one line naming it and the term; model_0000001.pth (saved after
    iteration 1) is kept; no final checkpoint, no evaluation."""
    env = Env(tmp_path, tiny_synthetic)
    _nan_from(3, monkeypatch)
    code, err, _ = run_tool("train_net", env.train_argv())
    line = _one_error(code, err, "diverged at iteration 3", "loss_cls is nan", "model_0000001.pth")
    assert "neither saved nor evaluated" in line
    _assert_not_saved_nor_evaluated(env.out, "model_0000001.pth")
    real = (env.out / "model_0000001.pth").stat().st_size
    assert abs(_estimate() - real) < 0.01 * real  # the room asked for in test_R04


@pytest.mark.slow
def test_R08_loss_diverges_in_two_processes(tiny_synthetic, tmp_path):
    """A learning rate of 1e12: the loss is infinite within a few iterations; both processes stop
    at the same iteration (one all-reduced flag), one line, exit 2, nothing saved after it."""
    env = Env(tmp_path, tiny_synthetic)
    argv = env.train_argv(
        "SOLVER.BASE_LR", "1e12", "SOLVER.MAX_ITER", "20", extra=["--num-gpus", "2"]
    )
    code, output = train_net_process(*argv)  # the launcher forked warm; its 2 workers fresh
    line = _one_error(code, output, "training diverged at iteration")
    assert "neither saved nor evaluated" in line
    assert "model_final.pth" not in _files(env.out)


def test_R09_checkpoint_save_fails(tiny_synthetic, tmp_path, monkeypatch):
    """The second periodic save hits a full disk: the run stops there with one line naming the
    file and the last checkpoint; no evaluation follows."""
    import torch

    save, calls = torch.save, []

    def full_disk(obj, f, *a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return save(obj, f, *a, **k)

    monkeypatch.setattr("eql.checkpoint.checkpointer.torch.save", full_disk)
    env = Env(tmp_path, tiny_synthetic)
    code, err, _ = run_tool("train_net", env.train_argv())
    _one_error(code, err, "model_0000003.pth", "No space left on device", "model_0000001.pth")
    _assert_not_saved_nor_evaluated(env.out, "model_0000001.pth")
    assert not [f for f in _files(env.out) if f.endswith(".tmp")]
