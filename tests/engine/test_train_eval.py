"""End to end: image labels reaching the ROI heads, train + eval, resume, 2-process gloo."""

import json
import os

import pytest
import torch
from common import REPO, instant_cfg, run_train_net, synthetic_args, two_process_args
from detectron2.modeling import ROI_HEADS_REGISTRY

from eql.modeling import EQLFastRCNNOutputLayers, EQLStandardROIHeads


class _RecordingPredictor(EQLFastRCNNOutputLayers):
    """Records the image labels its losses() is given."""

    seen = []

    def losses(self, predictions, proposals, image_labels=None):
        _RecordingPredictor.seen.append(image_labels)
        return super().losses(predictions, proposals, image_labels)


@ROI_HEADS_REGISTRY.register()
class _RecordingROIHeads(EQLStandardROIHeads):
    @classmethod
    def _init_box_head(cls, cfg, input_shape):
        ret = super()._init_box_head(cfg, input_shape)
        ret["box_predictor"] = _RecordingPredictor(cfg, ret["box_head"].output_shape)
        return ret


def test_image_labels_reach_the_box_predictor(tiny_synthetic, tmp_path):
    from detectron2.data import DatasetCatalog, build_detection_train_loader
    from detectron2.modeling import build_model
    from detectron2.utils.events import EventStorage

    cfg = instant_cfg(tmp_path, "MODEL.ROI_HEADS.NAME", "_RecordingROIHeads")
    model = build_model(cfg)
    model.train()
    batch = next(iter(build_detection_train_loader(cfg)))
    records = {r["image_id"]: r for r in DatasetCatalog.get("tiny_synthetic_train")}
    _RecordingPredictor.seen.clear()
    with EventStorage(0):
        losses = model(batch)
    sum(losses.values()).backward()
    (labels,) = _RecordingPredictor.seen
    assert len(labels) == len(batch) == 2
    for image_labels, inp in zip(labels, batch):
        expected = records[inp["image_id"]]["image_labels"]
        assert image_labels.positive.tolist() == expected["positive"]
        assert image_labels.negative.tolist() == expected["negative"]
        assert image_labels.not_exhaustive.tolist() == expected["not_exhaustive"]
        # positive = the (contiguous) classes of the image's instances
        assert image_labels.positive.tolist() == sorted(set(inp["instances"].gt_classes.tolist()))
    model.eval()
    with torch.no_grad():
        model(batch[:1])
    assert len(_RecordingPredictor.seen) == 1  # no losses at inference


def test_train_eval_and_resume(tiny_synthetic, tmp_path):
    out = tmp_path / "run"
    log = run_train_net(*synthetic_args(tiny_synthetic, out))
    assert (out / "model_final.pth").is_file() and (out / "model_0000001.pth").is_file()
    results = out / "inference" / "tiny_synthetic_val" / "lvis_instances_results.json"
    dets = json.loads(results.read_text())
    assert dets and {"image_id", "category_id", "bbox", "score", "segmentation"} <= set(dets[0])
    assert "copypaste: AP,AP50,AP75,APs,APm,APl,APr,APc,APf" in log
    assert "Task: segm" in log
    # per-category reports next to the results; the r/c/f summary in metrics.json / TensorBoard
    inference = out / "inference" / "tiny_synthetic_val"
    assert (inference / "lvis_per_category_ap.csv").is_file()
    assert (inference / "lvis_ap_vs_frequency.png").is_file()
    metrics = [json.loads(line) for line in (out / "metrics.json").read_text().splitlines()]
    evaluated = [m for m in metrics if "bbox/APr" in m]
    assert evaluated and {"bbox/APc", "bbox/APf", "segm/APr", "bbox/AR@300"} <= set(evaluated[-1])
    assert list(out.glob("events.out.tfevents.*"))
    first = torch.load(out / "model_final.pth", map_location="cpu", weights_only=False)
    assert first["iteration"] == 3

    # resume: continues from the last checkpoint (iteration 4) up to the new MAX_ITER
    log = run_train_net("--resume", *synthetic_args(tiny_synthetic, out), "SOLVER.MAX_ITER", "6")
    assert "Starting training from iteration 4" in log
    resumed = torch.load(out / "model_final.pth", map_location="cpu", weights_only=False)
    assert resumed["iteration"] == 5
    w0 = first["model"]["roi_heads.box_predictor.cls_score.weight"]
    w1 = resumed["model"]["roi_heads.box_predictor.cls_score.weight"]
    assert not torch.equal(w0, w1)


@pytest.mark.slow
def test_two_process_gloo_training(tiny_synthetic, tmp_path):
    out = tmp_path / "ddp"
    log = run_train_net(*two_process_args(tiny_synthetic, out))
    assert "world size: 2" in log.lower() or "rank 1" in log.lower()
    assert (out / "model_final.pth").is_file()
    assert (out / "inference" / "tiny_synthetic_val" / "lvis_instances_results.json").is_file()


def test_lvis_eql_config_trains_on_synthetic_data_on_cpu(tiny_synthetic, tmp_path):
    """The documented LVIS v1 EQL config, pointed at synthetic data, trains a few CPU iterations.
    No pretrained weights here: from random init the backbone needs BN (FrozenBN diverges)."""
    out = tmp_path / "r50"
    config = os.path.join(
        REPO, "configs/LVISv1-InstanceSegmentation/eql_mask_rcnn_R_50_FPN_1x.yaml"
    )
    overrides = {
        "MODEL.DEVICE": "cpu",
        "MODEL.WEIGHTS": "",
        "DATASETS.TEST": "()",
        "MODEL.ROI_HEADS.NUM_CLASSES": "24",
        "MODEL.EQL.EQL.LAMBDA": "0.11",
        "SOLVER.IMS_PER_BATCH": "2",
        # 16 foreground boxes an image, not 128: on a CPU the mask head's four 256-channel convs
        # over 128 boxes are most of an R-50 iteration
        "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE": "64",
        "SOLVER.MAX_ITER": "3",
        "SOLVER.BASE_LR": "0.002",
        "INPUT.MIN_SIZE_TRAIN": "(128,)",
        "INPUT.MAX_SIZE_TRAIN": "128",
        "DATALOADER.NUM_WORKERS": "0",
        "MODEL.RESNETS.NORM": "BN",
        "MODEL.BACKBONE.FREEZE_AT": "0",
    }
    log = run_train_net(
        *synthetic_args(tiny_synthetic, out, config), *[x for kv in overrides.items() for x in kv]
    )
    assert "EQL: lambda = 0.11 (threshold)" in log
    assert "iter: 2" in log and "total_loss" in log
    final = torch.load(out / "model_final.pth", map_location="cpu", weights_only=False)
    assert final["iteration"] == 2
    assert all(torch.isfinite(v).all() for v in final["model"].values() if v.is_floating_point())


def test_eval_only_writes_metrics_to_tensorboard(tiny_synthetic, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "evalonly"
    run_train_net(
        *synthetic_args(tiny_synthetic, out), "SOLVER.MAX_ITER", "1", "DATASETS.TEST", "()"
    )
    for f in out.glob("events.out.tfevents.*"):
        f.unlink()
    run_train_net(
        "--eval-only",
        *synthetic_args(tiny_synthetic, out),
        "MODEL.WEIGHTS",
        str(out / "model_final.pth")
    )
    (events,) = out.glob("events.out.tfevents.*")
    acc = EventAccumulator(str(events))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"bbox/AP", "bbox/APr", "bbox/APc", "bbox/APf", "segm/APr"} <= tags


def test_the_config_is_validated_once_per_process(tiny_synthetic, tmp_path, monkeypatch):
    """tools/train_net.py reads and validates the config once in the launching process; the run's
    process (here the same one) receives it; building the model and its loss check no more."""
    from common import run_tool

    import eql.config

    calls = []
    validate = eql.config.validate_eql_config
    monkeypatch.setattr(eql.config, "validate_eql_config", lambda cfg: calls.append(validate(cfg)))
    argv = synthetic_args(tiny_synthetic, tmp_path / "run") + ["SOLVER.MAX_ITER", "1"]
    code, err, _ = run_tool("train_net", argv + ["TEST.EVAL_PERIOD", "0"])
    assert code == 0, err[-3000:]
    assert (tmp_path / "run" / "model_final.pth").is_file()
    assert len(calls) == 1
