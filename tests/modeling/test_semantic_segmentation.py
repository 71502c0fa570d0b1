"""Semantic segmentation: the generated long-tailed set, EQLSemSegFPNHead against detectron2's
head, the r/c/f mIoU, and the quick schedule through tools/train_net.py (train, resume,
evaluate)."""

import json
import math
import os

import numpy as np
import pytest
import torch
from common import REPO, run_train_net
from PIL import Image

from eql.data import generate_synthetic_semseg, register_synthetic_semseg
from eql.evaluation import binned_miou, class_bins

QUICK = os.path.join(
    REPO, "configs/quick_schedules/synthetic_softmax_eql_semantic_fpn_R_18_instant_test.yaml"
)


@pytest.fixture(scope="module")
def semseg_set(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("semseg"))
    meta = generate_synthetic_semseg(root, num_train_images=24, num_val_images=8, seed=2)
    return root, meta


def test_generated_set_is_long_tailed_and_labelled(semseg_set):
    root, meta = semseg_set
    counts = meta["image_count"]
    assert counts[0] == 24  # the ground is in every image
    objects = counts[1:]
    assert objects[0] > objects[-1] and max(objects) / max(min(objects), 1) >= 5
    assert meta["frequency"][0] == "f" and {"r", "c", "f"} <= set(meta["frequency"])
    label = np.asarray(Image.open(os.path.join(root, "train", "labels", "00000.png")))
    assert label.dtype == np.uint8 and set(np.unique(label)) <= set(range(10)) | {255}
    assert (label == 255).any()  # boundaries are left unlabelled
    names = register_synthetic_semseg(root, prefix="semseg_test")
    from detectron2.data import DatasetCatalog, MetadataCatalog

    records = DatasetCatalog.get(names[0])
    assert len(records) == 24 and os.path.isfile(records[0]["sem_seg_file_name"])
    assert MetadataCatalog.get(names[1]).class_frequency == meta["frequency"]


def test_binned_miou_and_bins_by_hand():
    ious = [80.0, 10.0, float("nan"), 30.0, 50.0]
    assert binned_miou(ious, ["f", "r", "r", "c", "c"]) == {
        "mIoU-r": 10.0,
        "mIoU-c": 40.0,
        "mIoU-f": 80.0,
    }

    class Meta:
        class_image_count = [100, 1, 50, 5, 7, 200]

    assert class_bins(Meta) == ["f", "r", "c", "r", "c", "f"]


def _head_cfg(loss):
    from eql.config import load_config

    return load_config(QUICK, ["MODEL.EQL.LOSS", loss])


@pytest.mark.parametrize("loss", ["softmax_ce", "softmax_eql"])
def test_head_loss_equals_detectron2s_cross_entropy_at_the_start(loss):
    from detectron2.layers import ShapeSpec
    from detectron2.modeling.meta_arch.semantic_seg import SemSegFPNHead

    from eql.modeling import EQLSemSegFPNHead

    cfg = _head_cfg(loss)
    shapes = {f"p{k}": ShapeSpec(channels=64, stride=2**k) for k in range(2, 6)}
    torch.manual_seed(0)
    ours = EQLSemSegFPNHead(cfg, shapes)
    theirs = SemSegFPNHead(cfg, shapes)
    theirs.load_state_dict(ours.state_dict(), strict=False)
    features = {f"p{k}": torch.randn(2, 64, 64 // 2**k, 64 // 2**k) for k in range(2, 6)}
    targets = torch.randint(0, 10, (2, 64, 64))
    targets[:, :5] = 255
    ours.train(), theirs.train()
    _, l_ours = ours(features, targets)
    _, l_theirs = theirs(features, targets)
    # Softmax-EQL starts with I = 0 (clamped): the plain cross-entropy
    assert l_ours["loss_sem_seg"].item() == pytest.approx(l_theirs["loss_sem_seg"].item(), rel=1e-5)
    if loss == "softmax_eql":
        stats = ours.seg_loss
        assert (stats.pos_grad > 0).any() and "seg_loss.pos_grad" in ours.state_dict()
        _, again = ours(features, targets)  # now the logits are shifted
        assert again["loss_sem_seg"].item() != pytest.approx(l_ours["loss_sem_seg"].item())


def test_quick_schedule_trains_resumes_and_reports_rcf_miou(semseg_set, tmp_path):
    root, _ = semseg_set
    out = tmp_path / "run"
    args = ["--config-file", QUICK, "DATASETS.SYNTHETIC_SEMSEG.ROOT", root, "OUTPUT_DIR", str(out)]
    log = run_train_net(*args)
    assert "copypaste: mIoU,fwIoU,mACC,pACC" in log and "mIoU by training frequency" in log
    metrics = [json.loads(line) for line in (out / "metrics.json").read_text().splitlines()]
    evaluated = [m for m in metrics if "sem_seg/mIoU" in m][-1]
    for b in ("r", "c", "f"):
        assert not math.isnan(evaluated[f"sem_seg/mIoU-{b}"])
    first = torch.load(out / "model_final.pth", map_location="cpu", weights_only=False)["model"]
    assert (first["sem_seg_head.seg_loss.pos_grad"] > 0).any()
    log = run_train_net("--resume", *args, "SOLVER.MAX_ITER", "6")
    assert "Starting training from iteration 4" in log
    second = torch.load(out / "model_final.pth", map_location="cpu", weights_only=False)["model"]
    before, after = (
        first["sem_seg_head.seg_loss.pos_grad"],
        second["sem_seg_head.seg_loss.pos_grad"],
    )
    assert torch.all(after >= before) and (after > before).any()
