"""Aggregation of runs over seeds (tools/summarize_runs.py): means, sample stds and the paired 95%
interval against hand computation, labels from config.yaml, bad run folders."""

import csv
import json
import math
import os

import pytest
from common import load_script

from eql.benchmark.run_summary import load_run, summarize, t_quantile_975

# (label from config, seed, bbox AP, APr, APc, APf)
RUNS = [
    ("sigmoid_ce", 1, 20.0, 10.0, 18.0, 25.0),
    ("sigmoid_ce", 2, 21.0, 12.0, 19.0, 26.0),
    ("sigmoid_ce", 3, 22.0, 14.0, 20.0, 27.0),
    ("eql", 1, 21.0, 13.0, 19.0, 25.0),
    ("eql", 2, 22.0, 16.0, 19.5, 25.5),
    ("eql", 3, 22.5, 16.0, 20.5, 27.5),
]


def _write_run(root, loss, seed, ap, apr, apc, apf, rfs=False, roi_heads="EQLStandardROIHeads"):
    d = root / f"{loss}_s{seed}_{roi_heads}"
    d.mkdir()
    sampler = "RepeatFactorTrainingSampler" if rfs else "TrainingSampler"
    (d / "config.yaml").write_text(
        f"MODEL:\n  META_ARCHITECTURE: EQLGeneralizedRCNN\n  ROI_HEADS:\n    NAME: {roi_heads}\n"
        f"  EQL:\n    LOSS: {loss}\n  ROI_BOX_HEAD:\n    USE_FED_LOSS: false\n"
        f"DATALOADER:\n  SAMPLER_TRAIN: {sampler}\nSEED: {seed}\n"
    )
    lines = [
        {"iteration": 99, "total_loss": 1.0},
        {"iteration": 100, "bbox/AP": 1.0, "bbox/APr": 0.0, "bbox/APc": 0.0, "bbox/APf": 0.0},
        {"iteration": 199, "bbox/AP": ap, "bbox/APr": apr, "bbox/APc": apc, "bbox/APf": apf},
        {"iteration": 200, "total_loss": 0.5},  # training lines after the last evaluation
    ]
    (d / "metrics.json").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return str(d)


@pytest.fixture
def runs(tmp_path):
    return [_write_run(tmp_path, *r) for r in RUNS]


def test_summary_by_hand(runs):
    rows = {r.label: r for r in summarize([load_run(p) for p in runs], "sigmoid_ce")}
    base, eql = rows["sigmoid_ce"], rows["eql"]
    assert base.n == eql.n == eql.pairs == 3
    assert base.mean["APr"] == pytest.approx(12.0) and base.std["APr"] == pytest.approx(2.0)
    assert eql.mean["APr"] == pytest.approx(15.0) and eql.std["APr"] == pytest.approx(math.sqrt(3))
    # paired APr differences 3, 4, 2: mean 3, sd 1, half width t(0.975, 2) / sqrt(3)
    assert eql.diff["APr"] == pytest.approx(3.0)
    assert eql.interval("APr") == pytest.approx(
        (3 - 4.303 / math.sqrt(3), 3 + 4.303 / math.sqrt(3))
    )
    # APf differences 0, -0.5, 0.5: mean 0, sd 0.5 -> the interval straddles 0
    lo, hi = eql.interval("APf")
    assert lo < 0 < hi and eql.diff["APf"] == pytest.approx(0.0)
    assert base.diff["AP"] == 0.0 and base.half_width["AP"] == 0.0
    assert t_quantile_975(1) == 12.706 and t_quantile_975(1000) == 1.96


def test_tool_prints_and_writes(runs, tmp_path, capsys):
    tool = _tool()
    out = tmp_path / "summary"
    assert tool.main([*runs, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| eql | 3 | 21.83 ± 0.76 | 15.00 ± 1.73 |" in printed
    assert "+3.00 [+0.52, +5.48]" in printed
    rows = list(csv.DictReader(open(out / "summary.csv")))
    assert [r["loss"] for r in rows] == ["sigmoid_ce", "eql"]
    assert float(rows[1]["APr_diff_low"]) == pytest.approx(3 - 4.303 / math.sqrt(3))
    assert (out / "summary.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "summary.md").read_text() == printed


def test_labels_from_config_and_by_hand(tmp_path):
    rfs = _write_run(tmp_path, "eqlv2", 7, 1, 2, 3, 4, rfs=True)
    assert load_run(rfs).label == "eqlv2_rfs" and load_run(rfs).seed == 7
    assert load_run(f"mine={rfs}").label == "mine"
    # detectron2's own predictor: MODEL.EQL.LOSS (default "eql") is not what trained
    d2 = _write_run(tmp_path, "eql", 7, 1, 2, 3, 4, roi_heads="StandardROIHeads")
    assert load_run(d2).label == "softmax_ce"


def _tool():
    return load_script("tools/summarize_runs.py")


@pytest.mark.parametrize("case", ["no_metrics", "no_eval", "duplicate_seed", "baseline", "config"])
def test_bad_runs_are_one_line_errors(runs, tmp_path, capsys, case):
    args = list(runs)
    if case == "no_metrics":
        os.remove(os.path.join(runs[0], "metrics.json"))
        fragment = "metrics.json: not found"
    elif case == "no_eval":
        with open(os.path.join(runs[0], "metrics.json"), "w") as f:
            f.write(json.dumps({"iteration": 1, "total_loss": 2.0}) + "\n")
        fragment = "no evaluation with 'bbox/AP'"
    elif case == "duplicate_seed":
        args.append(f"eql={runs[3]}")
        fragment = "both are 'eql' seed 1"
    elif case == "baseline":
        args += ["--baseline", "focal"]
        fragment = "--baseline 'focal': no run has that label"
    else:
        os.remove(os.path.join(runs[0], "config.yaml"))
        fragment = "config.yaml: not found (name the run's loss as LABEL=DIR)"
    assert _tool().main(args + ["--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and fragment in err[0]
    assert not (tmp_path / "o").exists()


def test_undefined_metrics_are_left_out_and_counted(tmp_path):
    """LVIS's -1 (-100 in %: no rare class in the val set) is not averaged in: the mean and the
    paired difference use the defined seeds, the table and the CSV say how many were left out."""
    runs = [
        _write_run(tmp_path, "sigmoid_ce", 1, 20.0, -100.0, 18.0, 25.0),
        _write_run(tmp_path, "sigmoid_ce", 2, 21.0, 12.0, 19.0, 26.0),
        _write_run(tmp_path, "sigmoid_ce", 3, 22.0, 14.0, 20.0, 27.0),
        _write_run(tmp_path, "eql", 1, 21.0, 13.0, 19.0, 25.0),
        _write_run(tmp_path, "eql", 2, 22.0, 16.0, 19.5, 25.5),
        _write_run(tmp_path, "eql", 3, 22.5, -100.0, 20.5, 27.5),
    ]
    rows = {r.label: r for r in summarize([load_run(p) for p in runs], "sigmoid_ce")}
    base, eql = rows["sigmoid_ce"], rows["eql"]
    assert base.mean["APr"] == pytest.approx(13.0) and base.undefined["APr"] == 1
    assert eql.mean["APr"] == pytest.approx(14.5) and eql.undefined["APr"] == 1
    assert eql.diff["APr"] == pytest.approx(4.0)  # seed 2 only: both defined
    assert eql.undefined["AP"] == 0 and eql.mean["AP"] == pytest.approx(65.5 / 3)
    out = tmp_path / "summary"
    tool = load_script("tools/summarize_runs.py")
    assert tool.main([*runs, "--out", str(out)]) == 0
    table = (out / "summary.md").read_text()
    assert "13.00 ± 1.41 (1 undefined left out)" in table and "-100" not in table
    rows_csv = {r["loss"]: r for r in csv.DictReader(open(out / "summary.csv"))}
    assert rows_csv["eql"]["APr_undefined"] == "1" and rows_csv["eql"]["AP_undefined"] == "0"
