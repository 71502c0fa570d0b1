"""benchmarks/gpu_evidence.sh --dry-run: the GPU machine's command rehearsed here on CPU at the
tiny size — the carried wheels checked installable on python 3.12 x86-64, both sweeps (R-CNN
sigmoid CE / EQL / EQLv2 under both recipes, RetinaNet focal vs EFL) trained in parallel and
summarized, the training-step timings, and what comes back in $OUT."""

import os
import subprocess
import tarfile

import pytest
from common import REPO


def _wheels(tmp_path):
    """The wheel folder: the checkout's .whl when scripts/gpu_wheels.sh filled it, else built
    into tmp_path with it (downloads from PyPI, as scripts/install.sh does)."""
    here = os.path.join(REPO, ".whl")
    if os.path.isdir(here) and any(f.startswith("detectron2-") for f in os.listdir(here)):
        return here
    out = str(tmp_path / "whl")
    subprocess.run(["bash", os.path.join(REPO, "scripts", "gpu_wheels.sh"), out], check=True)
    return out


def _run(env, *args):
    return subprocess.run(
        ["bash", os.path.join(REPO, "benchmarks", "gpu_evidence.sh"), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=1500,
    )


@pytest.mark.slow
def test_gpu_evidence_dry_run_writes_the_tables_timings_and_runs(tmp_path):
    out = tmp_path / "out"
    wheels = _wheels(tmp_path)
    done = _run({"OUT": str(out), "EQL_WHEELS": wheels, "EVIDENCE_SECONDS": "1200"}, "--dry-run")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(os.listdir(out)) == [
        "evidence.log", "evidence.md", "rcnn_gradient_ratio_over_iterations.png",
        "rcnn_summary.png", "retinanet_summary.png", "runs.tar.gz",
    ]  # fmt: skip
    report = (out / "evidence.md").read_text()
    assert "(dry run on CPU)" in report and "seeds 1, --max-iter 4, jobs 2" in report
    for label in ("sigmoid_ce", "eql", "eqlv2", "eqlv2_official", "focal", "efl"):
        assert f"| {label} | 1 | " in report, label
    assert "runs still to train" not in report  # every run finished before the deadline
    # the timings' table, both rows
    assert "| RetinaNet focal (detectron2) | no |" in report and "| RetinaNet EFL | no |" in report
    log = (out / "evidence.log").read_text()
    assert "installs on python 3.12 x86-64" in log and "R-CNN exit 0, RetinaNet exit 0" in log
    with tarfile.open(out / "runs.tar.gz") as tar:
        names = tar.getnames()
        cfg = tar.extractfile("rcnn/runs/eqlv2_official/seed0/config.yaml").read().decode()
    assert "rcnn/sweep.json" in names and "retinanet/runs/efl/seed0/metrics.json" in names
    assert "    PRIOR_PROB: 0.0\n" in cfg and "DEVICE: cpu" in cfg and "MAX_ITER: 4\n" in cfg
    for png in ("rcnn_summary.png", "rcnn_gradient_ratio_over_iterations.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"


def test_gpu_evidence_refuses_a_wheel_folder_that_does_not_cover_eql(tmp_path):
    empty = tmp_path / "whl"
    empty.mkdir()
    out = tmp_path / "out"
    done = _run({"OUT": str(out), "EQL_WHEELS": str(empty)}, "--dry-run")
    assert done.returncode == 1
    assert f"error: the wheels in {empty} do not cover detectron2 lvis" in done.stdout
    assert os.listdir(out) == ["evidence.log"]  # nothing trained
    missing = _run({"OUT": str(out), "EQL_WHEELS": str(tmp_path / "none")}, "--dry-run")
    assert (
        missing.returncode == 1 and "no wheel folder (run scripts/gpu_wheels.sh" in missing.stdout
    )
    assert _run({"OUT": str(out)}, "--dry", "run").returncode == 2
