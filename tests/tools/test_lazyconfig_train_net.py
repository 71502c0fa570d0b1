"""tools/lazyconfig_train_net.py: a LazyConfig run trains, checkpoints, resumes exactly and
evaluates on CPU; bad input is one line naming the file or field, exit 2, nothing written."""

import os
import shutil

import pytest
import torch
from common import REPO, run_tool

QUICK = os.path.join(
    REPO, "configs", "lazy", "quick_schedules", "synthetic_mask_rcnn_R_18_FPN_instant_test.py"
)


def lazy_args(tiny_synthetic, out, *opts):
    return [
        "--config-file",
        QUICK,
        f"datasets.synthetic.root={tiny_synthetic['root']}",
        "datasets.synthetic.prefix=tiny_synthetic",
        "dataloader.train.dataset.names=[tiny_synthetic_train]",
        "model.roi_heads.box_predictor.cls_loss.train_datasets=[tiny_synthetic_train]",
        "dataloader.test.dataset.names=[tiny_synthetic_val]",
        "dataloader.evaluator.dataset_name=tiny_synthetic_val",
        f"train.output_dir={out}",
        *opts,
    ]


def run_ok(args):
    code, err, out = run_tool("lazyconfig_train_net", args)
    assert code == 0, (err + out)[-3000:]


@pytest.fixture(scope="module")
def lazy_run(tiny_synthetic, tmp_path_factory):
    out = tmp_path_factory.mktemp("lazy") / "run"
    run_ok(lazy_args(tiny_synthetic, out))
    return out


def test_a_lazy_run_trains_checkpoints_and_evaluates(lazy_run):
    names = sorted(os.listdir(lazy_run))
    for name in ("config.yaml", "model_0000001.pth", "model_0000003.pth", "model_final.pth"):
        assert name in names
    final = torch.load(lazy_run / "model_final.pth", map_location="cpu", weights_only=False)
    assert final["iteration"] == 3 and final["trainer"]["iteration"] == 3
    results = lazy_run / "inference" / "tiny_synthetic_val" / "lvis_instances_results.json"
    assert results.is_file()
    metrics = (lazy_run / "metrics.json").read_text()
    assert '"bbox/AP"' in metrics and '"segm/APr"' in metrics


def test_a_resumed_lazy_run_ends_where_the_run_in_one_go_ends(lazy_run, tiny_synthetic, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(lazy_run, out, ignore=shutil.ignore_patterns("inference", "metrics.json"))
    for name in ("model_0000003.pth", "model_final.pth"):
        os.remove(out / name)
    (out / "last_checkpoint").write_text("model_0000001.pth")
    run_ok(["--resume", *lazy_args(tiny_synthetic, out)])
    one_go = torch.load(lazy_run / "model_final.pth", map_location="cpu", weights_only=False)
    resumed = torch.load(out / "model_final.pth", map_location="cpu", weights_only=False)
    assert resumed["iteration"] == one_go["iteration"] == 3
    assert one_go["model"].keys() == resumed["model"].keys()
    for key, value in one_go["model"].items():
        assert torch.equal(value, resumed["model"][key]), key
    momentum = [
        s["momentum_buffer"] for s in one_go["trainer"]["_trainer"]["optimizer"]["state"].values()
    ]
    again = [
        s["momentum_buffer"] for s in resumed["trainer"]["_trainer"]["optimizer"]["state"].values()
    ]
    assert all(torch.equal(a, b) for a, b in zip(momentum, again)) and momentum


def test_eval_only_evaluates_a_checkpoint(lazy_run, tiny_synthetic, tmp_path):
    out = tmp_path / "eval"
    run_ok(
        [
            "--eval-only",
            *lazy_args(
                tiny_synthetic, out, f"train.init_checkpoint={lazy_run / 'model_final.pth'}"
            ),
        ]
    )
    assert (out / "inference" / "tiny_synthetic_val" / "lvis_instances_results.json").is_file()
    assert '"bbox/AP"' in (out / "metrics.json").read_text()


def bad_cases(tmp_path):
    """(options, overrides, what the message names)."""
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("MODEL: {}\n")
    no_loader = tmp_path / "no_loader.py"
    no_loader.write_text("model = dict()\ntrain = dict()\noptimizer = dict()\n")
    return [
        (["--config-file", str(tmp_path / "none.py")], [], "config file not found"),
        (["--config-file", str(yaml_file)], [], "a LazyConfig is a python file"),
        (["--config-file", str(no_loader)], [], "no 'dataloader', 'lr_multiplier'"),
        ([], ["train.max_iter=0"], "train.max_iter"),
        ([], ["train.max_iter=1.5"], "train.max_iter"),
        ([], ["train.seed=-2"], "train.seed"),
        ([], ["train.eval_period=-1"], "train.eval_period"),
        ([], ["train.ddp={}"], "train.ddp"),
        ([], ["train.device=tpu"], "train.device"),
        ([], ["train.amp.enabled=True"], "train.amp.enabled"),
        (["--num-gpus", "2"], ["dataloader.train.total_batch_size=3"], "total_batch_size"),
        ([], ["train.checkpointer.max_to_keep=3"], "train.checkpointer.max_to_keep"),
        ([], ["datasets.other=1"], "datasets.other"),
        ([], ["train.amp=True"], "train.amp: a dict"),
        ([], ["datasets.synthetic=1"], "datasets.synthetic: a dict"),
        ([], ["dataloader.train.total_batch_size=0"], "dataloader.train.total_batch_size"),
        ([], ["dataloader.train.num_workers=-1"], "dataloader.train.num_workers"),
        ([], ["dataloader.train.sampler=GroupSampler"], "dataloader.train.sampler"),
        ([], ["dataloader.train.repeat_threshold=nan"], "dataloader.train.repeat_threshold"),
        ([], ["datasets.synthetic.root="], "datasets.synthetic.root"),
        ([], ["+dataloader.train.shuffle=True"], "dataloader.train.shuffle"),
        ([], ["train.max_iter"], "key=value"),
        ([], ["dataloader.evaluator=None"], "dataloader.evaluator"),
        (
            [],
            ["model.roi_heads.box_predictor.cls_loss.keys={MODEL.EQL.EQL.LAMBDA: 0}"],
            "model.roi_heads.box_predictor.cls_loss: MODEL.EQL.EQL.LAMBDA",
        ),
        ([], ["model.roi_heads.box_predictor.cls_loss.name=efl"], "MODEL.EQL.LOSS"),
        ([], ["dataloader.train.dataset.names=[nope_train]"], "dataloader.train.dataset.names"),
        ([], ["dataloader.test.dataset.names=[nope_val]"], "dataloader.test.dataset.names"),
        ([], ["model.roi_heads.num_classes=25"], "has 24 categories"),
        (["--eval-only"], [], "train.init_checkpoint: empty for --eval-only"),
        ([], [f"train.init_checkpoint={tmp_path / 'none.pth'}"], "train.init_checkpoint"),
    ]


def test_a_launcher_contradiction_is_refused_before_anything_starts(
    tiny_synthetic, tmp_path, monkeypatch
):
    monkeypatch.setenv("SLURM_NTASKS", "2")
    monkeypatch.setenv("SLURM_PROCID", "0")
    out = tmp_path / "out"
    args = ["--num-gpus", "4", *lazy_args(tiny_synthetic, out)]
    code, err, _ = run_tool("lazyconfig_train_net", args)
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1, err[-2000:]
    assert "--num-gpus 4" in lines[0] and "SLURM_NTASKS=2" in lines[0]
    assert not out.exists()
    # train_net's option checks: a machine rank beyond the machines (argparse's usage + error)
    code, err, _ = run_tool("lazyconfig_train_net", ["--machine-rank", "1", *args[2:]])
    assert code == 2 and "--machine-rank: 1 is not below --num-machines 1" in err


def test_bad_input_is_one_line_and_starts_nothing(tiny_synthetic, tmp_path):
    for options, overrides, named in bad_cases(tmp_path):
        out = tmp_path / "out"
        args = [*lazy_args(tiny_synthetic, out), *overrides]
        if options[:1] == ["--config-file"]:
            args[:2] = options
        else:
            args = [*options, *args]
        code, err, _ = run_tool("lazyconfig_train_net", args)
        lines = [x for x in err.splitlines() if x.strip()]
        assert code == 2 and len(lines) == 1 and named in lines[0], (named, err[-2000:])
        assert not out.exists(), named
