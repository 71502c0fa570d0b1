import glob
import os

import pytest
from conftest import REPO

from eql.config import load_config

CONFIGS = sorted(
    p
    for p in glob.glob(os.path.join(REPO, "configs", "**", "*.yaml"), recursive=True)
    if "/configs/detectron2/" not in p
)


def test_configs_found():
    names = {os.path.relpath(p, os.path.join(REPO, "configs")) for p in CONFIGS}
    assert "LVISv1-InstanceSegmentation/sigmoid_mask_rcnn_R_50_FPN_1x.yaml" in names
    assert "LVISv0.5-InstanceSegmentation/softmax_mask_rcnn_R_50_FPN_1x.yaml" in names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.relpath(p, REPO))
def test_config_parses_and_builds(path):
    from detectron2.modeling import build_model

    cfg = load_config(path, ["MODEL.DEVICE", "cpu"])
    assert cfg.MODEL.META_ARCHITECTURE == "EQLGeneralizedRCNN"
    if "LVISv1" in path:
        assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == 1203 and cfg.DATASETS.TRAIN == ("lvis_v1_train",)
    if "LVISv0.5" in path:
        assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == 1230
    if os.path.basename(path).startswith("sigmoid_"):
        assert cfg.MODEL.ROI_BOX_HEAD.USE_SIGMOID_CE
    model = build_model(cfg)
    head = model.roi_heads.box_predictor
    assert head.cls_score.out_features == cfg.MODEL.ROI_HEADS.NUM_CLASSES + 1
