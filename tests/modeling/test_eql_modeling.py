"""EQL in detectron2: the box predictor, the ROI heads, configs."""

import math
import os

import pytest
import torch
from common import CASCADE_OPTS, INSTANT_CONFIG
from common import PREDICTOR_CLASSES as C
from common import REPO, instant_cfg, predictor_cfg, random_proposals
from detectron2.layers import ShapeSpec
from detectron2.modeling.roi_heads.fast_rcnn import FastRCNNOutputLayers
from detectron2.utils.events import EventStorage

from eql.config import load_config
from eql.losses import SigmoidEQL, sigmoid_eql_loss
from eql.modeling import EQLFastRCNNOutputLayers, ImageLabels


def test_prior_probability_bias_init(tmp_path):
    cfg = predictor_cfg(tmp_path, [50] * C)
    predictor = EQLFastRCNNOutputLayers(cfg, ShapeSpec(channels=16))
    assert torch.allclose(predictor.cls_score.bias, torch.full((C + 1,), -math.log(999.0)))
    assert isinstance(predictor.cls_loss, SigmoidEQL)
    cfg.defrost()
    cfg.MODEL.EQL.PRIOR_PROB = 0.0
    assert torch.all(EQLFastRCNNOutputLayers(cfg, ShapeSpec(channels=16)).cls_score.bias == 0)


def test_suppression_from_the_training_statistics(tmp_path):
    # f = count / 100; lambda = 0.11 (instant config): classes with < 11 images are tail
    cfg = predictor_cfg(tmp_path, [1, 10, 11, 50, 0, 200])
    predictor = EQLFastRCNNOutputLayers(cfg, ShapeSpec(channels=16))
    assert predictor.cls_loss.suppression.tolist() == [1, 1, 0, 0, 1, 0]
    cfg = predictor_cfg(tmp_path, [1, 10, 11, 50, 0, 200], "MODEL.EQL.EQL.TAIL_IMAGE_COUNT", "11")
    assert EQLFastRCNNOutputLayers(cfg, ShapeSpec(channels=16)).cls_loss.suppression.tolist() == [
        1,
        1,
        0,
        0,
        1,
        0,
    ]
    cfg = predictor_cfg(tmp_path, [1, 10, 11, 50, 0, 200], "MODEL.EQL.EQL.TAIL_IMAGE_COUNT", "12")
    assert EQLFastRCNNOutputLayers(cfg, ShapeSpec(channels=16)).cls_loss.suppression.tolist() == [
        1,
        1,
        1,
        0,
        1,
        0,
    ]


def test_no_tail_class_equals_detectron2_sigmoid_ce(tmp_path):
    cfg = predictor_cfg(tmp_path, [90] * C, "MODEL.EQL.PRIOR_PROB", "0.0")
    torch.manual_seed(0)
    ours = EQLFastRCNNOutputLayers(cfg, ShapeSpec(channels=16))
    assert ours.cls_loss.suppression.sum() == 0
    theirs = FastRCNNOutputLayers(cfg, ShapeSpec(channels=16), use_sigmoid_ce=True)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(40, 16)
    proposals = random_proposals([25, 15])
    with EventStorage(0):
        l_ours = ours.losses(ours(x), proposals)
        l_theirs = theirs.losses(theirs(x), proposals)
    for k in ("loss_cls", "loss_box_reg"):
        assert l_ours[k].item() == pytest.approx(l_theirs[k].item(), rel=1e-6)
    l_ours["loss_cls"].backward()
    l_theirs["loss_cls"].backward()
    assert torch.allclose(ours.cls_score.weight.grad, theirs.cls_score.weight.grad, atol=1e-7)
    assert torch.allclose(ours.cls_score.bias.grad, theirs.cls_score.bias.grad, atol=1e-7)


def test_image_labels_exempt_classes_in_the_loss(tmp_path):
    cfg = predictor_cfg(tmp_path, [1, 1, 1, 90, 90, 90])  # classes 0-2 tail
    predictor = EQLFastRCNNOutputLayers(cfg, ShapeSpec(channels=16))
    x = torch.randn(10, 16)
    proposals = random_proposals([6, 4], seed=2)
    labels = [
        ImageLabels(torch.tensor([0]), torch.tensor([1]), torch.tensor([], dtype=torch.int64)),
        ImageLabels(torch.tensor([2]), torch.tensor([], dtype=torch.int64), torch.tensor([0])),
    ]
    scores, _ = predictor(x)
    gt = torch.cat([p.gt_classes for p in proposals])
    exempt = torch.zeros(10, C, dtype=torch.bool)
    exempt[:6, [0, 1]] = True  # image 0: positive {0}, negative {1}; not-exhaustive is not exempt
    exempt[6:, 2] = True
    expected = sigmoid_eql_loss(scores[:, :C], gt, predictor.cls_loss.suppression, exempt)
    without = sigmoid_eql_loss(scores[:, :C], gt, predictor.cls_loss.suppression)
    with EventStorage(0):
        got = predictor.losses((scores, _), proposals, labels)["loss_cls"]
        assert predictor.losses((scores, _), proposals)["loss_cls"].item() == pytest.approx(
            without.item(), rel=1e-6
        )
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    assert got.item() != pytest.approx(without.item(), rel=1e-6)
    predictor.cls_loss.use_image_labels = False
    with EventStorage(0):
        assert predictor.losses((scores, _), proposals, labels)["loss_cls"].item() == (
            pytest.approx(without.item(), rel=1e-6)
        )


def test_empty_batch_losses_backpropagate(tmp_path):
    cfg = predictor_cfg(tmp_path, [1, 1, 1, 90, 90, 90])
    predictor = EQLFastRCNNOutputLayers(cfg, ShapeSpec(channels=16))
    with EventStorage(0):
        losses = predictor.losses(predictor(torch.zeros(0, 16)), random_proposals([0]))
    assert losses["loss_cls"].item() == 0
    sum(losses.values()).backward()
    assert predictor.cls_score.weight.grad is not None
    assert torch.all(predictor.cls_score.weight.grad == 0)


def test_every_cascade_stage_uses_eql(tiny_synthetic, tmp_path):
    from detectron2.data import build_detection_train_loader
    from detectron2.modeling import build_model

    cfg = instant_cfg(tmp_path, *CASCADE_OPTS)
    model = build_model(cfg)
    predictors = list(model.roi_heads.box_predictor)
    assert len(predictors) == 3
    calls = []
    for k, p in enumerate(predictors):
        assert isinstance(p, EQLFastRCNNOutputLayers) and isinstance(p.cls_loss, SigmoidEQL)
        p.cls_loss.register_forward_hook(
            lambda mod, inp, out, k=k: calls.append((k, inp[2].image_labels is not None))
        )
    model.train()
    batch = next(iter(build_detection_train_loader(cfg)))
    with EventStorage(0):
        losses = model(batch)
    assert {f"loss_cls_stage{k}" for k in range(3)} <= set(losses)
    assert calls == [(0, True), (1, True), (2, True)]  # each stage, with the image-level masks
    # stage-specific box regression weights are kept
    assert [p.box2box_transform.weights for p in predictors] == [
        (10.0, 10.0, 5.0, 5.0),
        (20.0, 20.0, 10.0, 10.0),
        (30.0, 30.0, 15.0, 15.0),
    ]


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("MODEL.EQL.LOSS", "focal", "MODEL.EQL.LOSS"),
        ("MODEL.EQL.EQL.WEIGHT_FUNCTION", "cosine", "MODEL.EQL.EQL.WEIGHT_FUNCTION"),
        ("MODEL.EQL.EQL.LAMBDA", "0.0", "MODEL.EQL.EQL.LAMBDA"),
        ("MODEL.EQL.EQL.LAMBDA", "1.5", "MODEL.EQL.EQL.LAMBDA"),
        ("MODEL.EQL.PRIOR_PROB", "1.0", "MODEL.EQL.PRIOR_PROB"),
        ("MODEL.EQL.EQL.TAIL_IMAGE_COUNT", "-3", "MODEL.EQL.EQL.TAIL_IMAGE_COUNT"),
        ("MODEL.EQL.EQL.GOMPERTZ_C", "0.0", "MODEL.EQL.EQL.GOMPERTZ_C"),
        ("MODEL.EQL.EQLV2.GAMMA", "-1.0", "MODEL.EQL.EQLV2.GAMMA"),
        ("MODEL.EQL.EFL.SCALE_FACTOR", "-1.0", "MODEL.EQL.EFL.SCALE_FACTOR"),
        ("MODEL.EQL.GRADIENT_STATS.PERIOD", "-5", "MODEL.EQL.GRADIENT_STATS.PERIOD"),
        ("MODEL.EQL.LOSS", "efl", "MODEL.EQL.LOSS"),  # a RetinaNet loss in the ROI heads
        ("MODEL.EQL.LAMBDA", "0.01", "MODEL.EQL.EQL.LAMBDA"),  # moved key: the hint names both
        ("MODEL.EQL.FREQUENCY_SOURCE", "/nonexistent.json", "MODEL.EQL.FREQUENCY_SOURCE"),
        ("TEST.LVIS.ENGINE", "cocoapi", "TEST.LVIS.ENGINE"),
    ],
)
def test_bad_eql_config_fails_at_config_time(key, value, match):
    with pytest.raises(ValueError, match=match.replace(".", r"\.")):
        load_config(INSTANT_CONFIG, [key, value])


def test_default_lambdas_give_the_official_tail_sizes():
    from common import V05_COUNTS

    from eql.data.category_stats import load_stats_file
    from eql.data.lvis_format import lvis_v1_train_stats

    v1 = load_config(
        os.path.join(REPO, "configs/LVISv1-InstanceSegmentation/" "eql_mask_rcnn_R_50_FPN_1x.yaml")
    )
    v05 = load_config(
        os.path.join(
            REPO, "configs/LVISv0.5-InstanceSegmentation/" "eql_mask_rcnn_R_50_FPN_1x.yaml"
        )
    )
    assert len(lvis_v1_train_stats().tail_classes(v1.MODEL.EQL.EQL.LAMBDA)) == 815
    assert len(load_stats_file(V05_COUNTS).tail_classes(v05.MODEL.EQL.EQL.LAMBDA)) == 915


def test_tail_ratio_tool(capsys):
    pass

    import tail_ratio
    from common import V05_COUNTS

    tail_ratio.main(["--json", V05_COUNTS, "--lambdas", "0.00177"])
    out = capsys.readouterr().out
    line = [ln for ln in out.splitlines() if ln.strip().startswith("0.00177")][0]
    assert line.split()[2] == "915"
    from eql.data.category_stats import load_stats_file
    from eql.data.category_stats import tail_ratio as tr

    stats = load_stats_file(V05_COUNTS)
    assert float(line.split()[3]) == pytest.approx(tr(stats.image_count, 56740, 0.00177), abs=1e-4)


@pytest.mark.parametrize("cascade", [False, True], ids=["standard", "cascade"])
def test_eql_heads_with_sigmoid_ce_train_as_detectron2s_heads(tiny_synthetic, tmp_path, cascade):
    """eql's ROI heads pass the image labels explicitly through their own box branch; with the
    sigmoid CE loss every loss equals detectron2's heads with USE_SIGMOID_CE."""
    from detectron2.data import build_detection_train_loader
    from detectron2.modeling import build_model

    opts = [*(CASCADE_OPTS if cascade else ()), "MODEL.EQL.LOSS", "sigmoid_ce"]
    cfg = instant_cfg(tmp_path, *opts, "MODEL.EQL.PRIOR_PROB", "0.0")
    ours = build_model(cfg)
    cfg.defrost()
    cfg.MODEL.ROI_HEADS.NAME = "CascadeROIHeads" if cascade else "StandardROIHeads"
    cfg.MODEL.ROI_BOX_HEAD.USE_SIGMOID_CE = True
    theirs = build_model(cfg)
    theirs.load_state_dict({k: v for k, v in ours.state_dict().items() if ".cls_loss." not in k})
    batch = next(iter(build_detection_train_loader(cfg)))
    ours.train(), theirs.train()
    results = []
    for model in (ours, theirs):
        torch.manual_seed(7)  # the same proposal sampling
        with EventStorage(0):
            results.append({k: v.item() for k, v in model(batch).items()})
    assert set(results[0]) == set(results[1])
    for k, v in results[1].items():
        assert results[0][k] == pytest.approx(v, rel=1e-5), k


def test_an_integer_is_accepted_where_a_float_is_meant(tmp_path):
    cfg = load_config(INSTANT_CONFIG, ["MODEL.EQL.EQLV2.GAMMA", "12", "MODEL.EQL.EQL.LAMBDA", "1"])
    assert cfg.MODEL.EQL.EQLV2.GAMMA == 12.0 and isinstance(cfg.MODEL.EQL.EQLV2.GAMMA, float)
    assert cfg.MODEL.EQL.EQL.LAMBDA == 1.0
    path = tmp_path / "ints.yaml"
    path.write_text(f'_BASE_: "{INSTANT_CONFIG}"\nMODEL:\n  EQL:\n    EQLV2:\n      MU: 1\n')
    cfg = load_config(str(path))
    assert cfg.MODEL.EQL.EQLV2.MU == 1.0 and isinstance(cfg.MODEL.EQL.EQLV2.MU, float)
    assert cfg.SOLVER.MAX_ITER == 4  # the base was merged too
