import functools
import glob
import os

import pytest
import torch
from common import REPO

from eql.config import load_config
from eql.modeling import loss_head_of
from eql.modeling.losses import CLASSIFICATION_LOSS_REGISTRY, get_loss_entry
from eql.utils.config_keys import config_value

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = sorted(glob.glob(os.path.join(REPO, "configs", "**", "*.yaml"), recursive=True))


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
    # the matrix: LVIS v0.5 / v1 x Mask / Cascade Mask R-CNN x 3 backbones x losses x RFS on / off
    for v in ("v0.5", "v1"):
        for loss in ("sigmoid", "eql", "eqlv2"):
            for rfs in ("", "_rfs"):
                for arch in ("mask_rcnn", "cascade_mask_rcnn"):
                    for bb in ("R_50", "R_101", "X_101_32x8d"):
                        name = f"LVIS{v}-InstanceSegmentation/{loss}{rfs}_{arch}_{bb}_FPN_1x.yaml"
                        assert name in names
    assert "LVISv0.5-InstanceSegmentation/official_eql_rfs_mask_rcnn_R_50_FPN_1x.yaml" in names
    for bb in ("R_50", "R_101", "X_101_32x8d"):
        for loss in ("efl", "focal"):
            assert f"LVISv1-Detection/{loss}_rfs_retinanet_{bb}_FPN_1x.yaml" in names
    assert "quick_schedules/synthetic_eqlv2_mask_rcnn_R_18_FPN_instant_test.yaml" in names
    assert "quick_schedules/synthetic_efl_retinanet_R_18_FPN_instant_test.yaml" in names
    for arch_bb in ("mask_rcnn_R_50", "mask_rcnn_R_101", "cascade_mask_rcnn_R_50"):
        for rfs in ("", "_rfs"):
            assert f"LVISv1-InstanceSegmentation/seesaw{rfs}_{arch_bb}_FPN_1x.yaml" in names
    for loss in ("softmax_ce", "softmax_eql"):
        assert f"ADE20K-SemanticSegmentation/{loss}_semantic_fpn_R_50_80k.yaml" in names
    assert "quick_schedules/synthetic_softmax_eql_semantic_fpn_R_18_instant_test.yaml" in names
    for name in ("fed", "fed_rfs", "eql_fed", "seql"):
        assert f"LVISv1-InstanceSegmentation/{name}_mask_rcnn_R_50_FPN_1x.yaml" in names


def _expected_loss(name):
    """The registered loss a config trains, read from its file name (its entry's config_names,
    the longest that starts the name; quick schedules start with "synthetic_"); None when the name
    names none (detectron2's own predictor, a base file, the benchmark's configs)."""
    name = name[len("synthetic_") :] if name.startswith("synthetic_") else name
    found = [
        (len(prefix), loss)
        for loss, entry in CLASSIFICATION_LOSS_REGISTRY
        for prefix in entry.config_names
        if name.startswith(prefix + "_")
    ]
    return max(found)[1] if found else None


def test_config_names_name_their_loss():
    assert _expected_loss("sigmoid_rfs_mask_rcnn_R_50_FPN_1x.yaml") == "sigmoid_ce"
    assert _expected_loss("fed_mask_rcnn_R_50_FPN_1x.yaml") == "sigmoid_ce"
    assert _expected_loss("eqlv2_mask_rcnn_R_50_FPN_1x.yaml") == "eqlv2"
    assert _expected_loss("eql_fed_mask_rcnn_R_50_FPN_1x.yaml") == "eql"
    assert _expected_loss("official_eql_rfs_mask_rcnn_R_50_FPN_1x.yaml") == "eql"
    assert _expected_loss("softmax_mask_rcnn_R_50_FPN_1x.yaml") is None
    assert _expected_loss("synthetic_efl_retinanet_R_18_FPN_instant_test.yaml") == "efl"
    losses = {_expected_loss(os.path.basename(p)) for p in CONFIGS}
    assert set(CLASSIFICATION_LOSS_REGISTRY.names()) <= losses, "a loss without a config"


@pytest.fixture
def no_random_init(monkeypatch):
    """Weights left as allocated: drawing them is ~90% of building an LVIS model on a CPU, and
    these tests read the model's structure, not its values (training tests draw them)."""
    for method in ("uniform_", "normal_"):
        monkeypatch.setattr(torch.Tensor, method, lambda self, *args, **kwargs: self)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.relpath(p, REPO))
def test_config_parses_and_builds(path, no_random_init):
    from detectron2.modeling import build_model

    cfg = load_config(path, ["MODEL.DEVICE", "cpu"])
    retinanet = cfg.MODEL.META_ARCHITECTURE == "EQLRetinaNet"
    dense = "retinanet" in path.lower()
    semseg = "semantic" in path.lower() or "SemSeg" in path
    expected_arch = (
        "EQLRetinaNet" if dense else "SemanticSegmentor" if semseg else "EQLGeneralizedRCNN"
    )
    assert cfg.MODEL.META_ARCHITECTURE == expected_arch
    num_classes = cfg.MODEL.RETINANET.NUM_CLASSES if retinanet else cfg.MODEL.ROI_HEADS.NUM_CLASSES
    if semseg:
        cfg.defrost()
        cfg.MODEL.DEVICE = "cpu"
        model = build_model(cfg)
        assert model.sem_seg_head.seg_loss.num_classes == cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
        assert _expected_loss(os.path.basename(path)) in (None, cfg.MODEL.EQL.LOSS)
        return
    if "LVISv1" in path:
        assert num_classes == 1203 and cfg.DATASETS.TRAIN == ("lvis_v1_train",)
    if "LVISv0.5" in path:
        assert num_classes == 1230
    name = os.path.basename(path)
    loss = _expected_loss(name)
    if loss is not None:
        assert cfg.MODEL.EQL.LOSS == loss
        for key, value in get_loss_entry(loss).recipe:  # the loss's published recipe
            assert config_value(cfg, key) == value, key
    if "LVIS" in path and loss is not None:
        assert cfg.MODEL.EQL.EQL.LAMBDA == (0.0011 if "LVISv1" in path else 0.00177)
        rfs = "_rfs_" in name
        assert cfg.MODEL.ROI_BOX_HEAD.USE_FED_LOSS == ("fed_" in name)
        assert (cfg.DATALOADER.SAMPLER_TRAIN == "RepeatFactorTrainingSampler") == rfs
        assert cfg.TEST.DETECTIONS_PER_IMAGE == 300
        if retinanet:
            assert cfg.MODEL.RETINANET.SCORE_THRESH_TEST == 0.0001 and not cfg.MODEL.MASK_ON
        else:
            cascade = "cascade" in name
            assert cfg.MODEL.ROI_HEADS.NAME == (
                "EQLCascadeROIHeads" if cascade else "EQLStandardROIHeads"
            )
            assert cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST == 0.0001
    # the training sets (real LVIS, the default synthetic folder) are not here: give the loss a
    # uniform category-count file so that the model builds
    cfg.defrost()
    cfg.MODEL.EQL.FREQUENCY_SOURCE = _uniform_counts(num_classes)
    model = build_model(cfg)
    if retinanet:
        assert model.cls_loss.num_classes == num_classes
        return
    predictors = model.roi_heads.box_predictor
    predictors = list(predictors) if isinstance(predictors, torch.nn.ModuleList) else [predictors]
    for head in predictors:
        if loss_head_of(cfg) is None:
            assert type(head).__name__ == "FastRCNNOutputLayers"  # detectron2's own
            assert head.cls_score.out_features == cfg.MODEL.ROI_HEADS.NUM_CLASSES + 1
        else:
            assert isinstance(head.cls_loss, get_loss_entry(cfg.MODEL.EQL.LOSS).loss_class)
            # C + 1 outputs as detectron2's, more when the loss reads more (Seesaw: C + 2)
            expected = max(cfg.MODEL.ROI_HEADS.NUM_CLASSES + 1, head.cls_loss.num_logits)
            assert head.cls_score.out_features == expected
            cosine = type(head.cls_score).__name__ == "CosineClassifier"
            assert cosine == (cfg.MODEL.EQL.CLASSIFIER == "cosine")


def _merge_every_config(configs_root, out_file):
    """detectron2's plain route, as in a user's script: get_cfg, add_eql_config, merge_from_file."""
    from detectron2.config import get_cfg

    import eql

    names = []
    for path in sorted(glob.glob(os.path.join(configs_root, "**", "*.yaml"), recursive=True)):
        cfg = get_cfg()
        eql.add_eql_config(cfg)
        cfg.merge_from_file(path)
        names.append((os.path.relpath(path, configs_root), cfg.MODEL.META_ARCHITECTURE))
    with open(out_file, "w") as f:
        f.write(repr(names))


def _tree(root):
    return sorted(
        (os.path.relpath(os.path.join(d, f), root), os.path.getsize(os.path.join(d, f)))
        for d, _, files in os.walk(root)
        for f in files
    )


@pytest.mark.slow
def test_every_config_loads_with_plain_merge_from_file_from_a_read_only_copy_in_parallel(
    tmp_path,
):
    import shutil
    import stat
    import subprocess
    import sys

    copy = tmp_path / "checkout" / "configs"
    shutil.copytree(os.path.join(REPO, "configs"), copy)
    before = _tree(copy)
    for d, dirs, files in os.walk(copy):  # read-only (root ignores it; the tree check does not)
        for name in files + dirs:
            p = os.path.join(d, name)
            os.chmod(p, os.stat(p).st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    code = (
        "import sys; from test_configs import _merge_every_config; "
        "_merge_every_config(sys.argv[1], sys.argv[2])"
    )
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONPATH": HERE}
    procs = [  # two "ranks" at once
        subprocess.Popen(
            [sys.executable, "-c", code, str(copy), str(tmp_path / f"rank{r}.txt")],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in range(2)
    ]
    for p in procs:
        assert p.wait(timeout=600) == 0, p.stderr.read()[-3000:]
    results = {(tmp_path / f"rank{r}.txt").read_text() for r in range(2)}
    assert len(results) == 1
    loaded = dict(eval(results.pop()))
    assert len(loaded) == len(CONFIGS) and len(loaded) > 90
    assert loaded["LVISv1-Detection/efl_rfs_retinanet_R_50_FPN_1x.yaml"] == "EQLRetinaNet"
    assert _tree(copy) == before  # nothing written next to the configs
