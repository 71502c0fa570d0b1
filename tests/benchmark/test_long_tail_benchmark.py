"""benchmarks/long_tail.py and eql/benchmark/long_tail_sweep.py: every loss variant's options
build a valid model config, the sweep's settings guard, and (slow) the smoke size end to end on a
small set: two losses x two seeds, stopped after three runs; interrupted runs resumed from their
checkpoint or trained again (no checkpoint) end with the metrics of uninterrupted runs; finished
runs untouched.
"""

import json
import os
import shutil
from dataclasses import replace

import pytest
from common import REPO, load_script

from eql.benchmark.long_tail_sweep import (
    SetSize,
    Sweep,
    SweepError,
    check_settings,
    variant_opts,
    with_rfs,
)
from eql.benchmark.long_tail_variants import loss_opts
from eql.modeling.heads import HEAD_KINDS
from eql.modeling.losses import get_loss_entry


def _benchmark():
    return load_script("benchmarks/long_tail.py")


TINY = SetSize(
    config="configs/LongTail-Synthetic/smoke_faster_rcnn_R_18_FPN.yaml",
    num_classes=12,
    num_train_images=240,
    num_val_images=24,
    image_size=64,
    max_images_per_class=110,
)


def test_variant_options_follow_lvis_settings():
    size = _benchmark().SIZES["smoke"]
    start = ["MODEL.EQL.PRIOR_PROB", "0.001", "MODEL.EQL.CLASSIFIER", "linear"]
    assert variant_opts("eql", size) == ["MODEL.EQL.LOSS", "eql"] + start
    rfs = variant_opts("eqlv2_rfs", size)
    assert rfs[-4:] == [
        "DATALOADER.SAMPLER_TRAIN",
        "RepeatFactorTrainingSampler",
        "DATALOADER.REPEAT_THRESHOLD",
        "0.1",  # LVIS's 100 images of the 1,000
    ]
    fed = variant_opts(with_rfs("sigmoid_ce_fed"), size)
    assert with_rfs("sigmoid_ce_fed") == "sigmoid_ce_rfs_fed"
    # 50 of LVIS's 1,203 classes -> 2 of 50
    assert fed[fed.index("MODEL.ROI_BOX_HEAD.FED_LOSS_NUM_CLASSES") + 1] == "2"
    assert "RepeatFactorTrainingSampler" in fed
    with pytest.raises(SweepError, match="unknown loss 'focal'"):
        variant_opts("focal", size)
    bench = _benchmark()
    assert bench.labels_of(["eql", "sigmoid_ce_fed"], "both") == [
        "eql", "eql_rfs", "sigmoid_ce_fed", "sigmoid_ce_rfs_fed",
    ]  # fmt: skip


@pytest.mark.parametrize("size_name", ["smoke", "demo", "demo_retinanet", "gpu"])
def test_every_variant_is_a_valid_config_whose_label_reads_back(size_name, tmp_path):
    """Each label's options (both recipes) load and pass eql's start-up validation on the size's
    config; the model builds (smoke); run_summary reads the same label back from the written
    config.yaml."""
    from eql.benchmark.run_summary import run_label_and_seed
    from eql.config import load_config, validate_eql_config
    from eql.utils.config_keys import config_value

    bench = _benchmark()
    size = bench.SIZES[size_name]
    labels = bench.labels_of(list(loss_opts(size.head)), "both", "both", size.head)
    sweep = Sweep(str(tmp_path), size_name, size, labels, [0])
    for label in labels:
        opts = sweep.opts(label, 3) + ["MODEL.DEVICE", "cpu"]
        cfg = load_config(os.path.join(REPO, size.config), opts)
        validate_eql_config(cfg)
        assert config_value(cfg, HEAD_KINDS[size.head].num_classes_key) == size.num_classes
        loss = label.replace("_rfs", "").replace("_fed", "").replace("_official", "")
        # the losses that record gradients (sigmoid): the papers', else the registry's word
        known = {"sigmoid_ce": True, "eql": True, "eqlv2": True, "seesaw": False, "seql": False,
                 "focal": True, "efl": True}  # fmt: skip
        sigmoid = known.get(loss, loss != "softmax_ce" and get_loss_entry(loss).sigmoid)
        assert (cfg.MODEL.EQL.GRADIENT_STATS.PERIOD > 0) == sigmoid
        out = tmp_path / label
        out.mkdir()
        (out / "config.yaml").write_text(cfg.dump())
        assert run_label_and_seed(str(out)) == (label, 3)
    if size_name == "smoke":  # the models of the losses built from the set's statistics
        from detectron2.modeling import build_model

        from eql.data import generate_synthetic_lvis, register_synthetic_lvis

        generate_synthetic_lvis(
            sweep.data_root, progress=False, write_images=False, **size.data_params()
        )
        register_synthetic_lvis(sweep.data_root, "long_tail")
        # C + 1 logits (background), C + 2 with Seesaw's objectness
        for label, logits in (("eql", 51), ("softmax_ce", 51), ("seesaw", 52),
                              ("sigmoid_ce_fed", 51)):  # fmt: skip
            opts = sweep.opts(label, 3) + ["MODEL.DEVICE", "cpu"]
            model = build_model(load_config(os.path.join(REPO, size.config), opts))
            assert model.roi_heads.box_predictor.cls_score.out_features == logits
            if label == "eql":  # tail: the 14 rare and 19 common classes (< 101 images)
                assert "tail=33," in repr(model.roi_heads.box_predictor.cls_loss)


def test_settings_of_a_folder_cannot_change(tmp_path):
    sweep = Sweep(str(tmp_path), "smoke", TINY, ["eql"], [0], max_iter=10)
    check_settings(sweep)
    check_settings(Sweep(str(tmp_path), "smoke", TINY, ["eql", "eqlv2"], [0, 1], max_iter=10))
    with pytest.raises(SweepError, match=r"sweep.json: .*\(max_iter: \[10\] there, \[20\] now\)"):
        check_settings(Sweep(str(tmp_path), "smoke", TINY, ["eql"], [0], max_iter=20))
    # labels may be added (their options are recorded), a label's options may not change
    recorded = json.loads((tmp_path / "sweep.json").read_text())["loss_opts"]
    assert recorded == {"eql": variant_opts("eql", TINY), "eqlv2": variant_opts("eqlv2", TINY)}
    edited = json.loads((tmp_path / "sweep.json").read_text())
    edited["loss_opts"]["eqlv2"] = ["MODEL.EQL.LOSS", "eqlv2"]  # before PRIOR_PROB was added
    (tmp_path / "sweep.json").write_text(json.dumps(edited))
    check_settings(sweep)  # eql alone: unaffected
    with pytest.raises(
        SweepError,
        match=r"the runs of 'eqlv2' were made with \['MODEL.EQL.LOSS', "
        r"'eqlv2'\], not \['MODEL.EQL.LOSS', 'eqlv2', 'MODEL.EQL.PRIOR_PROB'",
    ):
        check_settings(Sweep(str(tmp_path), "smoke", TINY, ["eqlv2"], [0], max_iter=10))
    # a sweep.json from before loss_opts were recorded: accepted, then recorded
    del edited["loss_opts"]
    (tmp_path / "sweep.json").write_text(json.dumps(edited))
    check_settings(sweep)
    assert json.loads((tmp_path / "sweep.json").read_text())["loss_opts"] == {
        "eql": variant_opts("eql", TINY)}  # fmt: skip
    # the same size with another merged config (a yaml edited since) is refused too
    found = json.loads((tmp_path / "sweep.json").read_text())
    (tmp_path / "sweep.json").write_text(json.dumps(dict(found, config_sha256="0" * 64)))
    with pytest.raises(SweepError, match=r"\(config_sha256: \['0000"):
        check_settings(sweep)


def test_the_sweep_generates_its_set_once_with_a_uniform_val(tmp_path):
    """prepare_data writes the size's set (the val json generate_synthetic_lvis writes with
    val_class_weights="uniform") and params.json; a second call keeps it, another size's params
    regenerate it."""
    from eql.benchmark.long_tail_sweep import prepare_data
    from eql.data.synthetic.lvis import generate_synthetic_lvis

    size = replace(TINY, num_val_images=30, image_size=32)
    sweep = Sweep(str(tmp_path / "sweep"), "smoke", size, ["eql"], [0])
    root = prepare_data(sweep, log=lambda m: None)
    p = size.data_params()
    assert p["val_class_weights"] == "uniform"
    assert json.loads((tmp_path / "sweep" / "data" / "params.json").read_text()) == p
    vals = {}
    for weights in ("sqrt", "uniform"):
        paths = generate_synthetic_lvis(
            str(tmp_path / weights), progress=False, write_images=False,
            **dict(p, val_class_weights=weights),
        )  # fmt: skip
        vals[weights] = open(paths["val"]).read()
    val_json = os.path.join(root, "annotations", "lvis_synthetic_val.json")
    assert open(val_json).read() == vals["uniform"] != vals["sqrt"]
    assert len(os.listdir(os.path.join(root, "val"))) == 30
    stamp = os.path.getmtime(val_json)
    logged = []
    prepare_data(sweep, log=logged.append)
    assert logged == [] and os.path.getmtime(val_json) == stamp
    other = Sweep(sweep.output_dir, "smoke", replace(size, data_seed=1), ["eql"], [0])
    prepare_data(other, log=logged.append)
    assert len(logged) == 1 and open(val_json).read() != vals["uniform"]


@pytest.mark.slow
def test_smoke_sweep_end_to_end_and_resume(tmp_path, monkeypatch, capsys):
    from eql.benchmark.run_summary import load_run

    E = "eqlv2_official"  # EQLv2 from its own recipe's start (zero biases)
    bench = _benchmark()
    monkeypatch.setitem(bench.SIZES, "smoke", TINY)
    out = tmp_path / "sweep"
    args = ["--losses", "sigmoid_ce", "eqlv2", "--recipe", "official", "--seeds", "2"]
    args += ["--output-dir", str(out)]
    # config options come last; a checkpoint every 3 iterations lets interrupted runs resume
    opts = ["TEST.DETECTIONS_PER_IMAGE", "20", "SOLVER.CHECKPOINT_PERIOD", "3"]
    assert bench.main(args + ["--max-iter", "6", "--max-runs", "3"] + opts) == 0
    printed = capsys.readouterr().out
    assert "1 of 4 runs still to train" in printed
    runs = {(label, s): out / "runs" / label / f"seed{s}" for label in ("sigmoid_ce", E)
            for s in (0, 1)}  # fmt: skip
    assert not (runs[E, 1] / "metrics.json").exists()
    assert bench.main(args + ["--max-iter", "6"] + opts) == 0
    printed = capsys.readouterr().out
    assert "3 of 4 runs already done" in printed and "still to train" not in printed

    def final(run):
        return load_run(str(run)).metrics

    finished = {k: final(p) for k, p in runs.items()}
    untouched = (runs["sigmoid_ce", 0] / "metrics.json").read_bytes()
    # two interruptions: eql seed 1 after its checkpoint at iteration 3 (the final model, its
    # evaluation and its log lines gone), sigmoid_ce seed 1 before any checkpoint
    interrupted = runs[E, 1]
    for name in ("model_final.pth", "model_0000005.pth"):
        (interrupted / name).unlink()
    (interrupted / "last_checkpoint").write_text("model_0000002.pth")
    (interrupted / "metrics.json").write_text("")
    early = runs["sigmoid_ce", 1]
    for f in early.iterdir():
        if f.name not in ("config.yaml", "log.txt"):
            f.unlink() if f.is_file() else shutil.rmtree(f)
    (early / "metrics.json").write_text(json.dumps({"iteration": 1, "total_loss": 1.0}) + "\n")

    assert bench.main(args + ["--max-iter", "6", "--jobs", "2"] + opts) == 0  # both at once
    printed = capsys.readouterr().out
    assert "2 of 4 runs already done" in printed and "resuming from model_0000002.pth" in printed
    assert (runs["sigmoid_ce", 0] / "metrics.json").read_bytes() == untouched
    # exact resume: the same final metrics as the uninterrupted runs, bit for bit
    assert final(interrupted) == finished[E, 1] and final(early) == finished["sigmoid_ce", 1]
    lines = [json.loads(x) for x in (interrupted / "metrics.json").read_text().splitlines()]
    assert lines[0]["iteration"] == 5 and "bbox/APr" in lines[-1]  # iterations 3-5 only

    # the protocol's start, and EQLv2's official one, in the config.yaml each run wrote
    for (label, seed), run in runs.items():
        cfg = (run / "config.yaml").read_text()
        prior = "0.0" if label == E else "0.001"
        assert f"    PRIOR_PROB: {prior}\n" in cfg and "    CLASSIFIER: linear\n" in cfg
    recorded = json.loads((out / "sweep.json").read_text())
    assert (recorded["recipe"], recorded["schedule"]) == ("official", 1)
    table = (out / "summary.md").read_text()
    assert table in printed
    lines = table.splitlines()
    assert lines[2].startswith("| sigmoid_ce | 2 |") and lines[3].startswith(f"| {E} | 2 |")
    eql_aprs = [load_run(str(runs[E, s])).metrics["bbox/APr"] for s in (0, 1)]
    assert f"{sum(eql_aprs) / 2:.2f} ± " in lines[3]
    csv_lines = (out / "summary.csv").read_text().splitlines()
    assert csv_lines[0].startswith("loss,seeds,paired_seeds,AP_mean") and len(csv_lines) == 3
    for png in ("summary.png", "gradient_ratio.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for label in ("sigmoid_ce", E):  # each sigmoid run recorded its gradients
        stats = json.loads((runs[label, 0] / "gradient_stats.json").read_text())
        assert stats["loss"] == label.replace("_official", "") and stats["iteration"] == 5
        assert len(stats["classes"]["frequency"]) == 12

    # the same models evaluated again under another protocol (--eval-only writes metrics.json)
    tag = ["--eval-tag", "cap5", "--eval-opts", "TEST.DETECTIONS_PER_IMAGE 5"]
    assert bench.main(args + ["--max-iter", "6"] + tag + opts) == 0
    assert f"evaluating {E} seed 1 again (cap5)" in capsys.readouterr().out
    for key, run in runs.items():
        evaluated = load_run(f"x={run / 'eval_cap5'}").metrics
        assert set(evaluated) == set(load_run(str(run)).metrics)
        cfg = (run / "eval_cap5" / "config.yaml").read_text()
        assert "DETECTIONS_PER_IMAGE: 5\n" in cfg and f"SEED: {key[1]}\n" in cfg
    assert (out / "summary_cap5.md").read_text().count(" | 2 | ") == 2
    other = ["--eval-tag", "cap5", "--eval-opts", "TEST.DETECTIONS_PER_IMAGE 7"]
    assert bench.main(args + ["--max-iter", "6"] + other + opts) == 2
    assert "eval_cap5.json: tag 'cap5' was evaluated with" in capsys.readouterr().err

    # another schedule or recipe in the same folder is refused, nothing trained
    assert bench.main(args + ["--max-iter", "7"] + opts) == 2
    assert "max_iter" in capsys.readouterr().err
    protocol = [x.replace("official", "protocol") for x in args]
    assert bench.main(protocol + ["--max-iter", "6"] + opts) == 2
    assert "(recipe: ['official'] there, ['protocol'] now)" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_trains_both_losses_prints_the_difference_and_the_picture(
    tmp_path, monkeypatch, capsys
):
    from eql.benchmark import long_tail_sweep

    monkeypatch.setitem(long_tail_sweep.SIZES, "demo", TINY)
    demo = load_script("tools/demo.py")
    out = tmp_path / "demo"
    assert demo.main(["--output-dir", str(out), "--max-iter", "4", "--seed", "2"]) == 0
    printed = capsys.readouterr().out
    # detectron2 prints the last iteration's line: the demo's progress line from it
    assert "    iter 3, eta 0:00:00 of 4\n" in printed
    from eql.benchmark.run_summary import load_run

    ce, eql = (load_run(str(out / "runs" / x / "seed2")) for x in ("sigmoid_ce", "eql"))
    assert ce.seed == eql.seed == 2
    table = (out / "results.md").read_text()
    assert table.strip() in printed
    diff_row = table.strip().splitlines()[-1]
    expected = eql.metrics["bbox/APr"] - ce.metrics["bbox/APr"]
    assert diff_row.startswith("| eql - sigmoid_ce") and f"{expected:+.1f}" in diff_row
    assert (out / "gradient_ratio.png").read_bytes()[:4] == b"\x89PNG"
    # a second call reuses both runs
    assert demo.main(["--output-dir", str(out), "--max-iter", "4", "--seed", "2"]) == 0
    assert "2 of 2 runs already done" in capsys.readouterr().out


@pytest.mark.slow
def test_gpu_size_config_trains_masks_through_the_benchmark_on_cpu(tmp_path, monkeypatch, capsys):
    """What a GPU session runs, minus the device: the GPU size's Mask R-CNN R-50 config through
    benchmarks/long_tail.py with the segm table, on a tiny set, on CPU (AMP needs CUDA: off)."""
    from eql.benchmark.run_summary import load_run
    from eql.config import load_config

    bench = _benchmark()
    size = replace(bench.SIZES["gpu"], num_classes=12, num_train_images=240, num_val_images=8,
                   image_size=64, max_images_per_class=110)  # fmt: skip
    monkeypatch.setitem(bench.SIZES, "gpu", size)
    out = tmp_path / "gpu"
    args = ["--size", "gpu", "--losses", "eqlv2", "--seeds", "1", "--task", "segm"]
    args += ["--output-dir", str(out), "--max-iter", "2"]
    opts = ["MODEL.DEVICE", "cpu", "SOLVER.AMP.ENABLED", "False", "DATALOADER.NUM_WORKERS", "0"]
    opts += ["SOLVER.IMS_PER_BATCH", "2", "INPUT.MIN_SIZE_TRAIN", "(64,)"]
    opts += ["INPUT.MIN_SIZE_TEST", "64", "TEST.DETECTIONS_PER_IMAGE", "20"]
    assert bench.main(args + opts) == 0
    printed = capsys.readouterr().out
    run = out / "runs" / "eqlv2" / "seed0"
    cfg = load_config(str(run / "config.yaml"))
    assert (cfg.MODEL.RESNETS.DEPTH, cfg.MODEL.MASK_ON, cfg.MODEL.ROI_HEADS.NUM_CLASSES) == (
        50, True, 12)  # fmt: skip
    assert cfg.MODEL.EQL.LOSS == "eqlv2" and cfg.SOLVER.MAX_ITER == 2
    metrics = load_run(str(run), "segm").metrics
    assert {"segm/APr", "segm/APc", "segm/APf"} <= set(metrics)
    assert "bbox/APr" in load_run(str(run)).metrics
    table = (out / "summary.md").read_text()
    assert table in printed and "segm on the gpu set's val split" in printed
    assert table.splitlines()[2].startswith(f"| eqlv2 | 1 | {metrics['segm/AP']:.2f} |")
    # the re-evaluation reads the same task
    tag = ["--eval-tag", "cap5", "--eval-opts", "TEST.DETECTIONS_PER_IMAGE 5"]
    assert bench.main(args + tag + opts) == 0
    again = load_run(str(run / "eval_cap5"), "segm").metrics["segm/AP"]
    assert f"| eqlv2 | 1 | {again:.2f} |" in (out / "summary_cap5.md").read_text()
