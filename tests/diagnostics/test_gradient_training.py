"""End to end with the gradient-driven losses: tools/train_net.py trains EQLv2 and EFL on CPU,
records gradient statistics, resumes with the loss state, evaluates; the plot tool draws them."""

import json
import os

import plot_gradient_stats  # noqa: E402
import pytest
import torch
from common import REPO, run_train_net, synthetic_args, two_process_args

from eql.diagnostics import gradient_stats_plot  # noqa: E402

EQLV2 = os.path.join(
    REPO, "configs/quick_schedules/synthetic_eqlv2_mask_rcnn_R_18_FPN_instant_test.yaml"
)
EFL = os.path.join(
    REPO, "configs/quick_schedules/synthetic_efl_retinanet_R_18_FPN_instant_test.yaml"
)


def _final(out):
    return torch.load(out / "model_final.pth", map_location="cpu", weights_only=False)


@pytest.mark.parametrize(
    "config,key",
    [(EQLV2, "roi_heads.box_predictor.cls_loss"), (EFL, "cls_loss")],
    ids=["eqlv2", "efl"],
)
def test_train_with_gradient_stats_resume_and_evaluate(tiny_synthetic, tmp_path, config, key):
    out = tmp_path / "run"
    args = [*synthetic_args(tiny_synthetic, out, config), "MODEL.EQL.GRADIENT_STATS.PERIOD", "2"]
    log = run_train_net(*args)
    assert "copypaste: AP,AP50,AP75" in log  # evaluated
    first = _final(out)["model"]
    assert (first[f"{key}.pos_grad"] > 0).any()  # the loss state is in the checkpoint

    stats = json.loads((out / "gradient_stats.json").read_text())
    assert stats["iteration"] == 3 and stats["loss"] in ("eqlv2", "efl")
    rec = stats["records"][key]
    assert len(rec["ratio"]) == 24 and len(stats["classes"]["frequency"]) == 24
    for p, n, r in zip(rec["pos"], rec["neg"], rec["ratio"]):
        assert r == pytest.approx(p / (n + 1e-10), rel=1e-5)
    assert torch.allclose(torch.tensor(rec["pos"]), first[f"{key}.gradient_record.pos"])
    metrics = [json.loads(line) for line in (out / "metrics.json").read_text().splitlines()]
    tag = key[: -len(".cls_loss")] if key != "cls_loss" else "head"
    logged = {k for m in metrics for k in m if k.startswith("gradient_ratio/")}
    present = set(stats["classes"]["frequency"])
    assert logged == {f"gradient_ratio/{tag}/{b}" for b in present}

    # resume: the loss statistics continue from the checkpoint
    log = run_train_net("--resume", *args, "SOLVER.MAX_ITER", "6")
    assert "Starting training from iteration 4" in log
    resumed = _final(out)["model"]
    for name in ("pos_grad", "neg_grad", "gradient_record.pos"):
        before, after = first[f"{key}.{name}"], resumed[f"{key}.{name}"]
        assert torch.all(after >= before) and (after > before).any(), name

    png = tmp_path / "ratio.png"
    assert plot_gradient_stats.main([str(out), str(out), "-o", str(png), "--labels", "a", "b"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_plot_tool_rejects_bad_inputs(tmp_path, capsys):
    bad = tmp_path / "gradient_stats.json"
    bad.write_text("{not json")
    assert plot_gradient_stats.main([str(bad), "-o", str(tmp_path / "x.png")]) == 2
    assert "not valid json" in capsys.readouterr().err
    bad.write_text(json.dumps({"format": "something else"}))
    assert plot_gradient_stats.main([str(tmp_path), "-o", str(tmp_path / "x.png")]) == 2
    assert "field 'format'" in capsys.readouterr().err
    assert plot_gradient_stats.main([str(tmp_path / "missing"), "-o", "x.png"]) == 2
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_cascade_records_one_curve_per_stage(tmp_path):
    stats = {
        "format": "eql-gradient-stats/1",
        "iteration": 9,
        "loss": "eqlv2",
        "classes": {"category_ids": [1, 2, 3], "image_count": [5, 50, 500], "frequency": "rcf"},
        "records": {
            f"roi_heads.box_predictor.{k}.cls_loss": {
                "pos": [1, 2, 3],
                "neg": [2, 2, 2],
                "ratio": [0.5, 1.0, 1.5],
            }
            for k in range(3)
        },
    }
    path = tmp_path / "gradient_stats.json"
    path.write_text(json.dumps(stats))
    data = gradient_stats_plot.load_stats(str(path))
    series = gradient_stats_plot.curves(data, "run")
    assert [s[0] for s in series] == [f"run roi_heads.box_predictor.{k}" for k in range(3)]
    assert series[0][1] == [1.5, 1.0, 0.5]  # most frequent class first
    assert series[0][2] == ["f", "c", "r"]
    (one,) = gradient_stats_plot.curves(data, "run", record="roi_heads.box_predictor.2")
    assert one[0] == "run"


@pytest.mark.parametrize("config", [EQLV2, EFL], ids=["eqlv2", "efl"])
def test_two_gloo_processes_train_a_stateful_loss(tiny_synthetic, tmp_path, config):
    """DDP over gloo with the statistics summed inside the forward: no deadlock, and the loss
    state lands in the checkpoint."""
    out = tmp_path / "ddp"
    log = run_train_net(*two_process_args(tiny_synthetic, out, config), "DATASETS.TEST", "()")
    assert "world size: 2" in log.lower() or "rank 1" in log.lower()
    state = _final(out)["model"]
    key = [k for k in state if k.endswith("cls_loss.pos_grad")]
    assert key and (state[key[0]] > 0).any()
