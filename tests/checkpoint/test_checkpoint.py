"""Crash-safe checkpoints: atomic saves, kill -9 during a write, unreadable checkpoints."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from common import REPO, train_net_process

from eql.checkpoint import EQLCheckpointer
from eql.errors import CheckpointError
from eql.utils.io import atomic_write, remove_stale_temporaries


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))


def _files(folder):
    return sorted(os.listdir(folder))


def test_save_is_atomic_and_tags_the_last_checkpoint(tmp_path):
    model = _model()
    ckpt = EQLCheckpointer(model, str(tmp_path))
    ckpt.save("model_0000009", iteration=9)
    assert _files(tmp_path) == ["last_checkpoint", "model_0000009.pth"]
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000009.pth"
    loaded = EQLCheckpointer(_model(), str(tmp_path)).resume_or_load("", resume=True)
    assert loaded["iteration"] == 9


def test_a_failed_save_leaves_the_previous_checkpoint_and_tag(tmp_path, monkeypatch):
    model = _model()
    ckpt = EQLCheckpointer(model, str(tmp_path))
    ckpt.save("model_final", iteration=1)
    before = (tmp_path / "model_final.pth").read_bytes()

    def crash(data, f):
        f.write(b"PK\x03\x04 partial")  # the start of a zip, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr("eql.checkpoint.checkpointer.torch.save", crash)
    with torch.no_grad():
        model[0].weight.add_(1.0)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save("model_final", iteration=2)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save("model_0000002", iteration=2)
    assert (tmp_path / "model_final.pth").read_bytes() == before
    assert _files(tmp_path) == ["last_checkpoint", "model_final.pth"]  # no partial, no temp
    assert (tmp_path / "last_checkpoint").read_text() == "model_final.pth"


_SLOW_WRITER = """
import sys, time
from eql.utils.io import atomic_write
with atomic_write(sys.argv[1], "wb") as f:
    f.write(b"x" * 1000)
    f.flush()
    time.sleep(60)
    f.write(b"y")
"""


def test_kill_9_during_a_write_leaves_no_file_and_the_temporary_is_cleaned_up(tmp_path):
    target = tmp_path / "model_final.pth"
    target.write_bytes(b"the previous checkpoint")
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(target)], cwd=REPO)
    deadline = time.time() + 60
    while not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]:
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    (temp,) = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert temp == f".model_final.pth.{proc.pid}.tmp"
    assert target.read_bytes() == b"the previous checkpoint"  # never replaced by a partial file
    # a live writer's temporary is kept, a dead one's removed
    with atomic_write(str(tmp_path / "other.json")) as f:
        f.write("{}")
        assert remove_stale_temporaries(str(tmp_path)) == [str(tmp_path / temp)]
        assert len([n for n in os.listdir(tmp_path) if n.endswith(".tmp")]) == 1
    EQLCheckpointer(_model(), str(tmp_path))  # also cleans up on creation
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_a_truncated_checkpoint_is_refused_with_its_name(tmp_path):
    EQLCheckpointer(_model(), str(tmp_path)).save("model_final", iteration=5)
    path = tmp_path / "model_final.pth"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # e.g. an interrupted copy
    with pytest.raises(CheckpointError, match="model_final.pth: not a readable checkpoint"):
        EQLCheckpointer(_model(), str(tmp_path)).resume_or_load("", resume=True)


def test_weights_that_are_not_a_checkpoint_are_refused(tmp_path):
    text = tmp_path / "weights.pth"
    text.write_text("these are not weights\n")
    with pytest.raises(CheckpointError, match="weights.pth: not a readable checkpoint"):
        EQLCheckpointer(_model()).load(str(text))


def assert_one_line_error(code, stderr, *needles):
    """``stderr``: the error stream, or the output with it (one line starts with "error:")."""
    assert code == 2, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    (line,) = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    for needle in needles:
        assert needle in line, line


def test_train_net_refuses_weights_that_are_not_a_checkpoint(tiny_synthetic, tmp_path):
    from common import synthetic_args

    text = tmp_path / "weights.pth"
    text.write_text("not weights")
    out = tmp_path / "out"
    code, output = train_net_process(
        *synthetic_args(tiny_synthetic, out), "MODEL.WEIGHTS", str(text)
    )
    assert_one_line_error(code, output, str(text), "not a readable checkpoint")
    assert not (out / "model_final.pth").exists()


def test_train_net_refuses_a_bad_key_before_starting_processes(tmp_path):
    code, output = train_net_process(
        "--num-gpus",
        "2",
        "--config-file",
        os.path.join(
            REPO, "configs/quick_schedules/synthetic_mask_rcnn_R_18_FPN_instant_test.yaml"
        ),
        "MODEL.EQL.EQLV2.GAMMA",
        "-3.0",
        "OUTPUT_DIR",
        str(tmp_path / "out"),
    )
    assert_one_line_error(code, output, "MODEL.EQL.EQLV2.GAMMA")
    assert not (tmp_path / "out").exists()
