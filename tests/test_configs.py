import functools
import glob
import os

import pytest
import torch
from conftest import REPO

from eql.config import load_config

CONFIGS = sorted(
    p
    for p in glob.glob(os.path.join(REPO, "configs", "**", "*.yaml"), recursive=True)
    if "/configs/detectron2/" not in p
)


@functools.lru_cache(maxsize=None)
def _uniform_counts(num_classes):
    import json
    import tempfile

    path = os.path.join(tempfile.mkdtemp(), f"uniform_{num_classes}.json")
    cats = [{"id": j + 1, "image_count": 10} for j in range(num_classes)]
    with open(path, "w") as f:
        json.dump({"categories": cats, "num_images_with_annotations": 1000}, f)
    return path


def test_configs_found():
    names = {os.path.relpath(p, os.path.join(REPO, "configs")) for p in CONFIGS}
    assert "LVISv1-InstanceSegmentation/sigmoid_mask_rcnn_R_50_FPN_1x.yaml" in names
    assert "LVISv0.5-InstanceSegmentation/softmax_mask_rcnn_R_50_FPN_1x.yaml" in names
    # the matrix: LVIS v0.5 / v1 x Mask / Cascade Mask R-CNN x 3 backbones x 3 losses
    for v in ("v0.5", "v1"):
        for loss in ("sigmoid", "eql", "eql_rfs"):
            for arch in ("mask_rcnn", "cascade_mask_rcnn"):
                for bb in ("R_50", "R_101", "X_101_32x8d"):
                    assert f"LVIS{v}-InstanceSegmentation/{loss}_{arch}_{bb}_FPN_1x.yaml" in names
    assert "LVISv0.5-InstanceSegmentation/official_eql_rfs_mask_rcnn_R_50_FPN_1x.yaml" in names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.relpath(p, REPO))
def test_config_parses_and_builds(path):
    from detectron2.modeling import build_model

    cfg = load_config(path, ["MODEL.DEVICE", "cpu"])
    assert cfg.MODEL.META_ARCHITECTURE == "EQLGeneralizedRCNN"
    if "LVISv1" in path:
        assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == 1203 and cfg.DATASETS.TRAIN == ("lvis_v1_train",)
    if "LVISv0.5" in path:
        assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == 1230
    name = os.path.basename(path)
    if "LVIS" in path and not name.startswith("softmax_"):
        expected_loss = "sigmoid_ce" if name.startswith("sigmoid_") else "eql"
        assert cfg.MODEL.EQL.LOSS == expected_loss
        assert cfg.MODEL.EQL.LAMBDA == (0.0011 if "LVISv1" in path else 0.00177)
        cascade = "cascade" in name
        assert cfg.MODEL.ROI_HEADS.NAME == (
            "EQLCascadeROIHeads" if cascade else "EQLStandardROIHeads"
        )
        rfs = "_rfs_" in name
        assert (cfg.DATALOADER.SAMPLER_TRAIN == "RepeatFactorTrainingSampler") == rfs
        assert cfg.TEST.DETECTIONS_PER_IMAGE == 300
        assert cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST == 0.0001
    # the training sets (real LVIS, the default synthetic folder) are not here: give the loss a
    # uniform category-count file so that the model builds
    cfg.defrost()
    cfg.MODEL.EQL.FREQUENCY_SOURCE = _uniform_counts(cfg.MODEL.ROI_HEADS.NUM_CLASSES)
    model = build_model(cfg)
    predictors = model.roi_heads.box_predictor
    predictors = list(predictors) if isinstance(predictors, torch.nn.ModuleList) else [predictors]
    for head in predictors:
        assert head.cls_score.out_features == cfg.MODEL.ROI_HEADS.NUM_CLASSES + 1
