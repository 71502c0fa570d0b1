"""The long-tail benchmark's protocol (eql/benchmark/long_tail_variants.py), schedules, parallel
runs and the schedule trend (eql/benchmark/long_tail_trend.py): one start per loss kind reaching
the config, official recipes as labelled extra runs, schedule multiples, what sweep.json refuses,
the ratio-over-iterations picture and the trend table from hand-made files."""

import json
import math
import os
import threading
import time

import pytest
from common import REPO, load_script

from eql.benchmark.long_tail_sizes import SIZES
from eql.benchmark.long_tail_sweep import Sweep, SweepError, check_settings
from eql.benchmark.long_tail_trend import (
    HISTORY_PICTURE,
    history_panels,
    trend_table,
    write_history_picture,
)
from eql.benchmark.long_tail_variants import (
    PROTOCOL_STARTS,
    has_official_recipe,
    labels_of,
    loss_recipes,
    parse_label,
    variant_opts,
)
from eql.benchmark.run_summary import Row
from eql.benchmark.run_summary_report import claim_verdict
from eql.config import load_config
from eql.diagnostics.gradient_stats_plot import GradientStatsError, ratio_history
from eql.modeling.heads import DENSE_HEAD, ROI_HEAD
from eql.modeling.losses import CLASSIFICATION_LOSS_REGISTRY
from eql.utils.config_keys import config_value

START_KEYS = ("MODEL.EQL.PRIOR_PROB", "MODEL.EQL.CLASSIFIER", "MODEL.RETINANET.PRIOR_PROB")


def _config(sweep, label):
    return load_config(os.path.join(REPO, sweep.size.config), sweep.opts(label, 0))


def _start(cfg):
    return {k: config_value(cfg, k) for k in START_KEYS}


@pytest.mark.parametrize("size_name", ["demo", "demo_retinanet"])
def test_every_loss_of_a_kind_starts_alike_and_official_recipes_are_extra_labels(
    size_name, tmp_path
):
    size = SIZES[size_name]
    recipes = loss_recipes(size.head)
    labels = labels_of(sorted(recipes), "off", "both", size.head)
    sweep = Sweep(str(tmp_path), size_name, size, labels, [0])
    starts = {}
    for label in labels:
        v = parse_label(label)
        cfg = _config(sweep, label)
        if v.official:
            # the loss's own recipe, every key of it, in the config the run writes
            entry = CLASSIFICATION_LOSS_REGISTRY.get(v.loss)
            for key, value in entry.recipe:
                assert config_value(cfg, key) == value, (label, key)
            assert _start(cfg) != _start(_config(sweep, v.loss)), label
        else:
            starts.setdefault(recipes[v.loss].sigmoid, set()).add(tuple(_start(cfg).items()))
    # one start per kind (sigmoid, softmax), the protocol's
    for sigmoid, found in starts.items():
        assert len(found) == 1, (sigmoid, found)
        wanted = dict(PROTOCOL_STARTS[(size.head, sigmoid)])
        got = dict(next(iter(found)))
        assert {k: got[k] for k in wanted} == wanted
    if size.head == ROI_HEAD:
        assert set(starts) == {True, False}
        # the sigmoid start is eql's default prior (the official EQL code's), the softmax one
        # detectron2's zero bias; every loss with a recipe start of its own has its extra label
        base = load_config(os.path.join(REPO, "configs/Base-EQL-RCNN-FPN.yaml"))
        assert dict(PROTOCOL_STARTS[(ROI_HEAD, True)])["MODEL.EQL.PRIOR_PROB"] == (
            base.MODEL.EQL.PRIOR_PROB
        )
        official = sorted(parse_label(x).loss for x in labels if x.endswith("_official"))
        assert official == ["eqlv2", "seesaw"]  # seql's recipe start is the softmax protocol's
        assert labels_of(["eql", "eqlv2"], "off", "official") == ["eql", "eqlv2_official"]
        assert labels_of(["eqlv2"], "on", "both") == ["eqlv2_rfs", "eqlv2_rfs_official"]
    else:
        assert not any(has_official_recipe(x, DENSE_HEAD) for x in recipes)
        assert labels == ["efl", "focal"]
    with pytest.raises(SweepError, match="'eql_official': eql's official recipe starts as"):
        variant_opts("eql_official", SIZES["demo"])
    with pytest.raises(SweepError, match=r"unknown loss 'eqlv2'; choose from \['efl', 'focal'\]"):
        variant_opts("eqlv2", SIZES["demo_retinanet"])
    with pytest.raises(SweepError, match="--recipe: one of"):
        labels_of(["eql"], "off", "paper")
    with pytest.raises(SweepError, match=r"--losses: \['eql'\] given twice"):
        labels_of(["eql", "eqlv2", "eql"])
    assert labels_of(["eqlv2", "eqlv2_official"], "off", "both") == ["eqlv2", "eqlv2_official"]


def test_schedule_multiplies_iterations_and_steps(tmp_path):
    size = SIZES["demo"]
    base = _config(Sweep(str(tmp_path), "demo", size, ["eql"], [0]), "eql")
    assert (base.SOLVER.MAX_ITER, tuple(base.SOLVER.STEPS)) == (600, (450, 540))
    for k in (2, 4):
        sweep = Sweep(str(tmp_path), "demo", size, ["eql", "seesaw"], [0], schedule=k)
        cfg = _config(sweep, "eql")
        assert cfg.SOLVER.MAX_ITER == 600 * k == sweep.iterations
        assert tuple(cfg.SOLVER.STEPS) == (450 * k, 540 * k)
        assert cfg.SOLVER.WARMUP_ITERS == base.SOLVER.WARMUP_ITERS  # warm-up kept
        # a checkpoint each 1x length: an interrupted long run loses at most 600 iterations
        assert (base.SOLVER.CHECKPOINT_PERIOD, cfg.SOLVER.CHECKPOINT_PERIOD) == (100000, 600)
        # about 20 points of the gradient ratios over the run; no statistics for softmax losses
        assert cfg.MODEL.EQL.GRADIENT_STATS.PERIOD == 30 * k
        assert _config(sweep, "seesaw").MODEL.EQL.GRADIENT_STATS.PERIOD == 0
    with pytest.raises(SweepError, match="--max-iter and --schedule"):
        Sweep(str(tmp_path), "demo", size, ["eql"], [0], max_iter=10, schedule=2)
    retina = Sweep(str(tmp_path), "demo_retinanet", SIZES["demo_retinanet"], ["efl"], [0])
    cfg = _config(retina, "efl")
    assert cfg.MODEL.RETINANET.NUM_CLASSES == 50 and cfg.MODEL.EQL.LOSS == "efl"
    assert cfg.MODEL.EQL.GRADIENT_STATS.PERIOD == 30


def test_sweep_json_records_schedule_recipe_start_and_threads(tmp_path, monkeypatch):
    size = SIZES["demo"]
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    check_settings(Sweep(str(tmp_path), "demo", size, ["eql"], [0], schedule=2, recipe="both"))
    found = json.loads((tmp_path / "sweep.json").read_text())
    assert (found["schedule"], found["recipe"], found["OMP_NUM_THREADS"]) == (2, "both", "1")
    assert found["start"]["roi sigmoid"] == [["MODEL.EQL.PRIOR_PROB", 0.001],
                                             ["MODEL.EQL.CLASSIFIER", "linear"]]  # fmt: skip
    for changed, message in (
        (dict(schedule=4, recipe="both"), r"\(schedule: \[2\] there, \[4\] now\)"),
        (dict(schedule=2, recipe="protocol"), r"\(recipe: \['both'\] there, \['protocol'\] now\)"),
    ):
        with pytest.raises(SweepError, match=message):
            check_settings(Sweep(str(tmp_path), "demo", size, ["eql"], [0], **changed))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    with pytest.raises(SweepError, match=r"OMP_NUM_THREADS: \['1'\] there, \['2'\] now"):
        check_settings(Sweep(str(tmp_path), "demo", size, ["eql"], [0], schedule=2, recipe="both"))
    # a protocol whose start changed: refused by the label's recorded options
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    edited = json.loads((tmp_path / "sweep.json").read_text())
    edited["loss_opts"]["eql"][3] = "0.01"
    (tmp_path / "sweep.json").write_text(json.dumps(edited))
    with pytest.raises(SweepError, match="the runs of 'eql' were made with"):
        check_settings(Sweep(str(tmp_path), "demo", size, ["eql"], [0], schedule=2, recipe="both"))


def _fake_run(run_dir, label, seed, ratios, ap):
    """A finished run's folder: config.yaml (loss, seed), metrics.json with the gradient hook's
    r/c/f means at the given iterations and a final evaluation."""
    os.makedirs(run_dir, exist_ok=True)
    cfg = {"MODEL": {"EQL": {"LOSS": parse_label(label).loss, "PRIOR_PROB": 0.001},
                     "META_ARCHITECTURE": "GeneralizedRCNN", "ROI_HEADS": {"NAME": "x"},
                     "ROI_BOX_HEAD": {}},
           "SEED": seed, "DATALOADER": {"SAMPLER_TRAIN": "TrainingSampler"}}  # fmt: skip
    with open(os.path.join(run_dir, "config.yaml"), "w") as f:
        json.dump(cfg, f)  # json is yaml
    with open(os.path.join(run_dir, "metrics.json"), "w") as f:
        for it, (r, c, fr) in ratios:
            line = {"iteration": it, "total_loss": 1.0}
            for b, v in zip("rcf", (r, c, fr)):
                line[f"gradient_ratio/roi_heads.box_predictor/{b}"] = v
            f.write(json.dumps(line) + "\n")
        metrics = {f"bbox/{m}": ap + k for k, m in enumerate(("AP", "APr", "APc", "APf"))}
        f.write(json.dumps(dict(metrics, iteration=ratios[-1][0])) + "\n")


def test_ratio_over_iterations_from_hand_made_statistics(tmp_path):
    sweeps = [
        Sweep(str(tmp_path / f"{k}x"), "demo", SIZES["demo"], ["sigmoid_ce", "eqlv2"], [0, 1],
              schedule=k)  # fmt: skip
        for k in (1, 2)
    ]
    for sweep in sweeps:
        for seed in (0, 1):
            for label, scale in (("sigmoid_ce", 1.0), ("eqlv2", 0.5)):
                points = [(29, (0.1 * scale, 0.5, 0.9 + seed * 0.2)), (59, (0.3 * scale, 0.7, 1.0))]
                _fake_run(sweep.run_dir(label, seed), label, seed, points, 10.0 * sweep.schedule)
    # seed 1 of eqlv2 1x was resumed: iteration 59 written twice, the later line wins
    resumed = sweeps[0].run_dir("eqlv2", 1)
    with open(os.path.join(resumed, "metrics.json"), "a") as f:
        f.write(json.dumps({"iteration": 59, "gradient_ratio/roi_heads.box_predictor/f": 1.4}))
        f.write("\n" + json.dumps({"iteration": 59, "bbox/AP": 1.0, "bbox/APr": 1.0,
                                   "bbox/APc": 1.0, "bbox/APf": 1.0}) + "\n")  # fmt: skip
    assert ratio_history(resumed)["roi_heads.box_predictor"]["f"] == [(29, 1.1), (59, 1.4)]
    panels = history_panels(sweeps, ["sigmoid_ce", "eqlv2", "softmax_ce"])
    assert [[name for name, _ in row] for row in panels] == [
        ["sigmoid_ce, 1x, 2 seeds", "sigmoid_ce, 2x, 2 seeds"],
        ["eqlv2, 1x, 2 seeds", "eqlv2, 2x, 2 seeds"],
    ]
    eqlv2_1x = panels[1][0][1]["roi_heads.box_predictor"]
    assert eqlv2_1x["r"] == [(29, pytest.approx(0.05)), (59, pytest.approx(0.15))]
    assert eqlv2_1x["f"] == [(29, pytest.approx(1.0)), (59, pytest.approx(1.2))]  # (1.0 + 1.4) / 2
    out = tmp_path / HISTORY_PICTURE
    assert write_history_picture(sweeps, ["sigmoid_ce", "eqlv2"], str(out)) == str(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert write_history_picture(sweeps, ["softmax_ce"], str(tmp_path / "none.png")) == ""
    # bad statistics: one error naming the file and line
    bad = tmp_path / "bad"
    bad.mkdir()
    for text, message in (
        ('{"iteration": 9, "gradient_ratio/head/r": NaN}\n', r"line 1: 'gradient_ratio/head/r'"),
        ('{"iteration": 9}\n{"iteration": 9, "gradient_ratio/head/r"\n', "line 2 is not json"),
        ('{"gradient_ratio/head/c": 0.5}\n', "line 1: 'gradient_ratio/head/c' without its"),
        ('{"iteration": 9, "gradient_ratio/head/x": 0.5}\n', r"line 1: .* is not gradient_ratio/<"),
    ):
        (bad / "metrics.json").write_text(text)
        with pytest.raises(GradientStatsError, match=f"{bad}/metrics.json: {message}"):
            ratio_history(str(bad))


def _row(label, diff_apr, half_apr, diff_apf, pairs=3):
    metrics = ("AP", "APr", "APc", "APf")
    diff = dict.fromkeys(metrics, 0.0)
    diff.update(APr=diff_apr, APf=diff_apf)
    half = dict.fromkeys(metrics, 0.5)
    half["APr"] = half_apr
    return Row(label, 3, dict.fromkeys(metrics, 20.0), dict.fromkeys(metrics, 1.0), diff, half,
               pairs, dict.fromkeys(metrics, 0))  # fmt: skip


def test_claim_verdict_and_trend_table():
    assert claim_verdict(_row("eql", 2.0, 1.0, -0.5), "sigmoid_ce") == "holds"
    assert claim_verdict(_row("eql", 2.0, 1.0, -1.0), "sigmoid_ce") == "holds"
    assert claim_verdict(_row("eql", 2.0, 2.5, -0.5), "sigmoid_ce") == (
        "no (APr interval reaches -0.50)"
    )
    assert claim_verdict(_row("eqlv2", 16.0, 2.0, -13.4), "sigmoid_ce") == "no (APf -13.40)"
    assert claim_verdict(_row("sigmoid_ce", 0.0, 0.0, 0.0), "sigmoid_ce") == "—"
    assert claim_verdict(_row("eql", 2.0, math.nan, 0.0, pairs=1), "sigmoid_ce") == "—"
    table = trend_table(
        [(1, 600, [_row("sigmoid_ce", 0, 0, 0), _row("eqlv2", 3.0, 1.0, -2.0)]),
         (4, 2400, [_row("sigmoid_ce", 0, 0, 0), _row("eqlv2", 3.0, 1.0, -0.25)])],
        "sigmoid_ce",
    )  # fmt: skip
    lines = table.splitlines()
    assert lines[0].startswith("| schedule | loss | seeds | AP | APr | APc | APf | ΔAPr [95%] |")
    assert lines[3] == (
        "|  | eqlv2 | 3 | 20.00 ± 1.00 | 20.00 ± 1.00 | 20.00 ± 1.00 | 20.00 ± 1.00 | "
        "+3.00 [+2.00, +4.00] | +0.00 [-0.50, +0.50] | -2.00 [-2.50, -1.50] | no (APf -2.00) |"
    )
    assert lines[4].startswith("| 4x (2400 it) | sigmoid_ce |") and lines[5].endswith("| holds |")


def test_parallel_runs_share_the_work_and_a_failure_stops_the_queue(tmp_path, monkeypatch):
    from eql.benchmark import long_tail_sweep

    monkeypatch.setattr(long_tail_sweep, "prepare_data", lambda sweep, log: sweep.data_root)
    started, running, most, failing = [], [0], [0], {("sigmoid_ce", 0)}
    lock = threading.Lock()

    def fake_train_run(sweep, label, seed, progress, log):
        assert progress is None  # no progress lines from parallel runs
        with lock:
            started.append((label, seed))
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.3)
        with lock:
            running[0] -= 1
        if (label, seed) in failing:
            raise SweepError(f"run {label} seed {seed} failed")
        _fake_run(sweep.run_dir(label, seed), label, seed, [(19, (0.1, 0.5, 1.0))], 5.0)
        return 0.3

    monkeypatch.setattr(long_tail_sweep, "train_run", fake_train_run)
    sweep = Sweep(str(tmp_path), "demo", SIZES["demo"], ["sigmoid_ce", "eqlv2"], [0, 1])
    with pytest.raises(SweepError, match="run sigmoid_ce seed 0 failed"):
        long_tail_sweep.run_sweep(sweep, log=lambda m: None, jobs=2)
    # the run beside the failed one ended and is kept; the queue behind them never started
    assert sorted(started) == [("eqlv2", 0), ("sigmoid_ce", 0)] and most[0] == 2
    assert long_tail_sweep.is_complete(sweep.run_dir("eqlv2", 0))
    failing.clear()
    del started[:]
    runs = long_tail_sweep.run_sweep(sweep, log=lambda m: None, jobs=2)
    assert sorted(started) == [("eqlv2", 1), ("sigmoid_ce", 0), ("sigmoid_ce", 1)]
    assert sorted((r.label, r.seed) for r in runs) == [
        ("eqlv2", 0), ("eqlv2", 1), ("sigmoid_ce", 0), ("sigmoid_ce", 1)]  # fmt: skip
    assert most[0] == 2


def test_the_tables_of_a_folder_of_run_records_need_no_set(tmp_path, capsys):
    """A folder holding only sweep.json and each run's config.yaml and metrics.json (what
    benchmarks/results keeps in git): --max-runs 0 prints its table without generating the set."""
    main = load_script("benchmarks/long_tail.py").main
    sweep = Sweep(str(tmp_path), "demo", SIZES["demo"], ["sigmoid_ce", "eqlv2"], [0, 1])
    check_settings(sweep)
    for seed in (0, 1):
        for label, ap in (("sigmoid_ce", 10.0), ("eqlv2", 12.0 + seed)):
            _fake_run(sweep.run_dir(label, seed), label, seed, [(19, (0.5, 0.9, 1.0))], ap)
    argv = ["--size", "demo", "--losses", "sigmoid_ce", "eqlv2", "--seeds", "2", "--max-runs", "0"]
    assert main(argv + ["--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| eqlv2 | 2 | 12.50 ± 0.71 | 13.50 ± 0.71 |" in out, out
    assert not os.path.exists(sweep.data_root)
    assert sorted(os.listdir(tmp_path)) == [
        "gradient_ratio_over_iterations.png", "runs", "summary.csv", "summary.md", "summary.png",
        "sweep.json"]  # fmt: skip


def test_git_keeps_only_the_records_of_a_sweep_under_benchmarks_results():
    import subprocess

    run = "benchmarks/results/some_sweep/2x/runs/eqlv2/seed0"
    kept = [
        f"{run}/config.yaml",
        f"{run}/metrics.json",
        f"{run}/gradient_stats.json",
        "benchmarks/results/some_sweep/sweep.json",
        "benchmarks/results/some_sweep/2x/summary.md",
    ]
    dropped = [f"{run}/model_final.pth", f"{run}/train.log", f"{run}/last_checkpoint",
               f"{run}/inference/lvis_instances_results.json",
               "benchmarks/results/some_sweep/data/params.json",
               "benchmarks/results/some_sweep/summary.png"]  # fmt: skip
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", *kept, *dropped], cwd=REPO, capture_output=True,
        text=True,
    )  # fmt: skip
    assert done.stdout.split() == dropped
