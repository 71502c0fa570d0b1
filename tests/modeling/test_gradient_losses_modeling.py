"""EQLv2 in the ROI heads and EFL / focal in RetinaNet: predictors, stage state, checkpoints."""

import math

import pytest
import torch
from common import CASCADE_OPTS
from common import PREDICTOR_CLASSES as C
from common import instant_cfg, predictor_cfg, random_proposals
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from eql.config import load_config
from eql.losses import EQLv2, EqualizedFocalLoss, LossContext, SigmoidFocalLoss
from eql.modeling import EQLFastRCNNOutputLayers

RETINANET_CONFIG = "configs/quick_schedules/synthetic_efl_retinanet_R_18_FPN_instant_test.yaml"


def test_eqlv2_predictor_trains_the_objectness_column_and_scores_with_it(tmp_path):
    cfg = predictor_cfg(tmp_path, [50] * C, "MODEL.EQL.LOSS", "eqlv2")
    predictor = EQLFastRCNNOutputLayers(cfg, ShapeSpec(channels=16))
    assert isinstance(predictor.cls_loss, EQLv2) and predictor.cls_score.out_features == C + 1
    # the prior bias on the classes, 0 on the objectness logit
    assert torch.allclose(predictor.cls_score.bias[:C], torch.full((C,), -math.log(999.0)))
    assert predictor.cls_score.bias[C] == 0
    x = torch.randn(10, 16)
    proposals = random_proposals([6, 4], seed=1)
    scores, deltas = predictor(x)
    gt = torch.cat([p.gt_classes for p in proposals])
    expected = EQLv2(C)(scores.detach(), gt)  # all C + 1 logits reach the loss
    with EventStorage(0):
        loss = predictor.losses((scores, deltas), proposals)["loss_cls"]
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert (predictor.cls_loss.pos_neg != 100).any()  # updated after the forward
    probs = predictor.predict_probs((scores, deltas), proposals)
    p = torch.sigmoid(scores)
    assert torch.allclose(torch.cat(probs)[:, :C], p[:, :C] * (1 - p[:, C:]), atol=1e-7)
    assert torch.all(torch.cat(probs)[:, C] == 0)  # detectron2's inference drops this column


def _cascade_model(tmp_path, loss="eqlv2"):
    cfg = instant_cfg(tmp_path, *CASCADE_OPTS, "MODEL.EQL.LOSS", loss)
    return cfg, build_model(cfg)


def test_cascade_stages_keep_their_own_eqlv2_statistics_through_a_checkpoint(
    tiny_synthetic, tmp_path
):
    from detectron2.data import build_detection_train_loader

    cfg, model = _cascade_model(tmp_path)
    losses = [p.cls_loss for p in model.roi_heads.box_predictor]
    assert len({id(x) for x in losses}) == 3 and all(isinstance(x, EQLv2) for x in losses)
    model.train()
    batch = next(iter(build_detection_train_loader(cfg)))
    with EventStorage(0):
        sum(model(batch).values()).backward()
    stats = [x.pos_grad.clone() for x in losses]
    assert all((s > 0).any() for s in stats)
    assert not torch.equal(stats[0], stats[2])  # each stage saw its own proposals

    DetectionCheckpointer(model, str(tmp_path)).save("ckpt")
    saved = torch.load(tmp_path / "ckpt.pth", map_location="cpu", weights_only=False)["model"]
    for k in range(3):
        key = f"roi_heads.box_predictor.{k}.cls_loss.pos_grad"
        assert torch.equal(saved[key], stats[k])
    _, fresh = _cascade_model(tmp_path)
    DetectionCheckpointer(fresh).load(str(tmp_path / "ckpt.pth"))
    for k, p in enumerate(fresh.roi_heads.box_predictor):
        assert torch.equal(p.cls_loss.pos_grad, stats[k])
        assert torch.equal(p.cls_loss.pos_neg, losses[k].pos_neg)


def test_the_inference_path_loads_a_checkpoint_with_loss_state(tiny_synthetic, tmp_path):
    """The model zoo builds models with FREQUENCY_SOURCE 'none'; the statistics load as weights
    do, and a checkpoint without them (an older one) still loads."""
    cfg, model = _cascade_model(tmp_path)
    for p in model.roi_heads.box_predictor:
        p.cls_loss.pos_neg.fill_(0.5)
    DetectionCheckpointer(model, str(tmp_path)).save("with_state")
    cfg.defrost()
    cfg.MODEL.EQL.FREQUENCY_SOURCE = "none"
    inference = build_model(cfg).eval()
    DetectionCheckpointer(inference).load(str(tmp_path / "with_state.pth"))
    assert all(torch.all(p.cls_loss.pos_neg == 0.5) for p in inference.roi_heads.box_predictor)
    state = {k: v for k, v in model.state_dict().items() if ".cls_loss." not in k}
    torch.save({"model": state}, tmp_path / "without_state.pth")
    DetectionCheckpointer(build_model(cfg)).load(str(tmp_path / "without_state.pth"))


def _retinanet_cfg(tmp_path, *opts):
    import os

    from common import REPO

    return load_config(
        os.path.join(REPO, RETINANET_CONFIG),
        [
            "DATASETS.TRAIN",
            "('tiny_synthetic_train',)",
            "DATASETS.TEST",
            "('tiny_synthetic_val',)",
            "OUTPUT_DIR",
            str(tmp_path),
            *opts,
        ],
    )


def test_eql_retinanet_with_focal_loss_equals_detectron2s_retinanet(tiny_synthetic, tmp_path):
    from detectron2.data import build_detection_train_loader

    cfg = _retinanet_cfg(tmp_path, "MODEL.EQL.LOSS", "focal")
    ours = build_model(cfg)
    assert isinstance(ours.cls_loss, SigmoidFocalLoss)
    cfg.defrost()
    cfg.MODEL.META_ARCHITECTURE = "RetinaNet"
    theirs = build_model(cfg)
    theirs_keys = set(theirs.state_dict())
    assert set(ours.state_dict()) - theirs_keys == {"loss_normalizer_ema"}  # eql: in checkpoints
    theirs.load_state_dict({k: v for k, v in ours.state_dict().items() if k in theirs_keys})
    batch = next(iter(build_detection_train_loader(cfg)))
    ours.train(), theirs.train()
    with EventStorage(0):
        l_ours, l_theirs = ours(batch), theirs(batch)
    for k in ("loss_cls", "loss_box_reg"):
        assert l_ours[k].item() == pytest.approx(l_theirs[k].item(), rel=1e-5)
    ours.eval(), theirs.eval()
    with torch.no_grad():
        (d_ours,), (d_theirs,) = ours(batch[:1]), theirs(batch[:1])
    assert torch.allclose(d_ours["instances"].scores, d_theirs["instances"].scores)


def test_eql_retinanet_gives_efl_the_normalizer_and_updates_its_statistics(
    tiny_synthetic, tmp_path
):
    from detectron2.data import build_detection_train_loader

    cfg = _retinanet_cfg(tmp_path)
    model = build_model(cfg)
    assert isinstance(model.cls_loss, EqualizedFocalLoss)
    seen = []
    model.cls_loss.register_forward_hook(lambda m, inp, out: seen.append((inp, out)))
    model.train()
    batch = next(iter(build_detection_train_loader(cfg)))
    with EventStorage(0):
        losses = model(batch)
    sum(losses.values()).backward()
    (((logits, gt, context), out),) = seen
    assert isinstance(context, LossContext) and context.normalizer == pytest.approx(
        0.9 * 100 + 0.1 * max(int(((gt >= 0) & (gt < 24)).sum()), 1)
    )
    assert logits.shape[1] == 24 and (gt >= 0).all()  # ignored anchors are left out
    assert (model.cls_loss.pos_grad > 0).any() and (model.cls_loss.pos_neg < 1).any()
    assert "cls_loss.pos_neg" in model.state_dict()


@pytest.mark.parametrize("loss", ["eqlv2", "eql", "sigmoid_ce"])
def test_roi_losses_are_refused_in_retinanet(tmp_path, loss):
    with pytest.raises(ValueError, match="MODEL.EQL.LOSS"):
        _retinanet_cfg(tmp_path, "MODEL.EQL.LOSS", loss)


@pytest.mark.parametrize("which", ["eqlv2", "efl"])
def test_whole_model_under_bf16_autocast_keeps_fp32_statistics(tiny_synthetic, tmp_path, which):
    """The CPU stand-in for an AMP run: the detector's forward under autocast, the loss in fp32."""
    from detectron2.data import build_detection_train_loader

    if which == "efl":
        cfg = _retinanet_cfg(tmp_path)
        model = build_model(cfg)
        losses_of = [model.cls_loss]
    else:
        cfg = instant_cfg(tmp_path, "MODEL.EQL.LOSS", "eqlv2")
        model = build_model(cfg)
        losses_of = [model.roi_heads.box_predictor.cls_loss]
    model.train()
    batch = next(iter(build_detection_train_loader(cfg)))
    for it in range(2):
        with EventStorage(it), torch.autocast("cpu", dtype=torch.bfloat16):
            losses = model(batch)
        total = sum(losses.values())
        assert torch.isfinite(total), losses
        total.backward()
    for loss in losses_of:
        assert all(b.dtype == torch.float32 for b in loss.buffers())
        assert torch.isfinite(loss.pos_neg).all() and (loss.pos_grad > 0).any()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_eqlv2_predictor_empty_batch_backpropagates(tmp_path):
    cfg = predictor_cfg(tmp_path, [50] * C, "MODEL.EQL.LOSS", "eqlv2")
    predictor = EQLFastRCNNOutputLayers(cfg, ShapeSpec(channels=16))
    with EventStorage(0):
        losses = predictor.losses(predictor(torch.zeros(0, 16)), random_proposals([0]))
    assert losses["loss_cls"].item() == 0
    sum(losses.values()).backward()
    assert predictor.cls_score.weight.grad is not None
    assert torch.all(predictor.cls_score.weight.grad == 0)
    assert torch.all(predictor.cls_loss.pos_neg == 100)  # nothing to learn from: unchanged
