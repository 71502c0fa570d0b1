"""The Seesaw loss against a hand computation after a known count history, its state, processes,
and in the ROI heads with the cosine classifier."""

import math

import pytest
import torch
from common import PREDICTOR_CLASSES as C
from common import instant_cfg, loss_state, predictor_cfg, random_proposals, run_gloo
from detectron2.layers import ShapeSpec
from detectron2.utils.events import EventStorage

from eql.losses import LossContext, SeesawLoss, seesaw_weights
from eql.modeling import EQLFastRCNNOutputLayers
from eql.modeling.cosine_classifier import CosineClassifier


def softmax(row):
    m = max(row)
    e = [math.exp(v - m) for v in row]
    return [v / sum(e) for v in e]


def ce(row, target):
    return -math.log(softmax(row)[target])


# 3 classes + 2 objectness logits; rows: class 0, class 2, background
LOGITS = [[2.0, 0.5, 1.0, 1.5, -0.5], [0.1, 0.3, -0.4, 0.2, 0.8], [0.0, 1.0, -1.0, -1.0, 2.0]]
GT = [0, 2, 3]


def test_loss_by_hand_after_a_known_count_history():
    seesaw = SeesawLoss(3, p=0.8, q=2.0, eps=0.01)
    seesaw.cum_samples = torch.tensor([10.0, 40.0, 2.0, 100.0])  # N_0, N_1, N_2, background
    z = torch.tensor(LOGITS, dtype=torch.float64)
    loss = seesaw(z, torch.tensor(GT))
    # the batch is counted first: N = (11, 40, 3) for the classes
    n = [11.0, 40.0, 3.0]
    expected = 0.0
    for row, c in ((LOGITS[0], 0), (LOGITS[1], 2)):
        s = softmax(row[:3])
        adjusted = []
        for j in range(3):
            w = 1.0
            if j != c:
                if n[j] < n[c]:
                    w *= (n[j] / n[c]) ** 0.8  # mitigation
                if s[j] / max(s[c], 0.01) > 1:
                    w *= (s[j] / max(s[c], 0.01)) ** 2.0  # compensation
            adjusted.append(row[j] + math.log(w))
        expected += ce(adjusted, c)
    for row, c in zip(LOGITS, GT):  # objectness: 0 = object, 1 = background
        expected += ce(row[3:], int(c == 3))
    assert loss.item() == pytest.approx(expected / 3, rel=1e-12)
    assert seesaw.cum_samples.tolist() == [11, 40, 3, 101]


def test_weights_mitigate_only_rarer_classes_and_compensate_only_higher_scores():
    logits = torch.tensor([[0.0, 2.0, -1.0]])
    w = seesaw_weights(logits, torch.tensor([0]), torch.tensor([50.0, 10.0, 100.0]), 0.8, 2.0, 0.01)
    s = torch.softmax(logits, 1)[0]
    assert w[0, 0].item() == pytest.approx(1.0)  # own class
    mitigation, compensation = 0.2**0.8, (s[1] / s[0]).item() ** 2
    assert w[0, 1].item() == pytest.approx(mitigation * compensation, rel=1e-6)
    assert w[0, 2].item() == pytest.approx(1.0)  # more frequent and lower score


def test_probabilities_are_class_softmax_times_object_score():
    z = torch.tensor(LOGITS)
    probs = SeesawLoss(3).probabilities(z)
    expected = torch.softmax(z[:, :3], 1) * torch.softmax(z[:, 3:], 1)[:, :1]
    assert torch.allclose(probs, expected) and SeesawLoss(3).num_logits == 5


def test_empty_and_background_only_batches():
    seesaw = SeesawLoss(3)
    z = torch.zeros(0, 5, requires_grad=True)
    seesaw(z, torch.zeros(0, dtype=torch.int64)).backward()
    assert z.grad.shape == (0, 5) and seesaw.cum_samples.sum() == 0
    z = torch.randn(4, 5, requires_grad=True)
    loss = seesaw(z, torch.full((4,), 3))
    loss.backward()
    expected = torch.nn.functional.cross_entropy(z[:, 3:], torch.ones(4, dtype=torch.int64))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)  # only the objectness term
    assert torch.all(z.grad[:, :3] == 0)


def test_counts_are_fp32_state_that_round_trips_and_normalizer_from_context():
    seesaw = SeesawLoss(3)
    z = torch.tensor(LOGITS)
    a = seesaw(z, torch.tensor(GT))
    restored = SeesawLoss(3)
    restored.load_state_dict(loss_state(seesaw))
    assert torch.equal(restored.cum_samples, seesaw.cum_samples)
    assert set(seesaw.state_dict()) == {"cum_samples"}
    restored.half()
    assert restored.cum_samples.dtype == torch.float32
    b = SeesawLoss(3)(z, torch.tensor(GT), LossContext(normalizer=6.0))
    assert b.item() == pytest.approx(a.item() / 2, rel=1e-6)


def _two_rank_counts(rank, world_size, out_dir):
    seesaw = SeesawLoss(4)
    gt = torch.tensor([[0, 1, 4, 4], [2, 2, 3, 4]][rank])
    seesaw(torch.randn(4, 6), gt)
    torch.save(loss_state(seesaw), f"{out_dir}/rank{rank}.pth")


def test_two_gloo_processes_hold_the_summed_counts(tmp_path):
    run_gloo(_two_rank_counts, 2, tmp_path, str(tmp_path))
    s0, s1 = (torch.load(tmp_path / f"rank{r}.pth") for r in (0, 1))
    assert s0["cum_samples"].tolist() == s1["cum_samples"].tolist() == [1, 1, 2, 1, 3]


def test_cosine_classifier_by_hand():
    layer = CosineClassifier(3, 2, scale=20.0)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[3.0, 0.0, 4.0], [0.0, 2.0, 0.0]]))
        layer.bias.copy_(torch.tensor([0.5, 0.0]))
    x = torch.tensor([[1.0, 2.0, 2.0]])
    out = layer(x)[0].tolist()
    assert out[0] == pytest.approx(20 * (3 * 1 + 4 * 2) / (5 * 3) + 0.5, rel=1e-5)
    assert out[1] == pytest.approx(20 * 2 * 2 / (2 * 3), rel=1e-5)


def test_seesaw_predictor_has_c_plus_2_logits_and_a_cosine_classifier(tmp_path):
    opts = ["MODEL.EQL.LOSS", "seesaw", "MODEL.EQL.PRIOR_PROB", "0.0"]
    cfg = predictor_cfg(tmp_path, [50] * C, *opts, "MODEL.EQL.CLASSIFIER", "cosine")
    predictor = EQLFastRCNNOutputLayers(cfg, ShapeSpec(channels=16))
    assert isinstance(predictor.cls_score, CosineClassifier)
    assert predictor.cls_score.out_features == C + 2
    x = torch.randn(10, 16)
    proposals = random_proposals([6, 4], seed=3)
    scores, deltas = predictor(x)
    gt = torch.cat([p.gt_classes for p in proposals])
    expected = SeesawLoss(C)(scores.detach(), gt)
    with EventStorage(0):
        loss = predictor.losses((scores, deltas), proposals)["loss_cls"]
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    probs = torch.cat(predictor.predict_probs((scores, deltas), proposals))
    assert torch.allclose(probs[:, :C], SeesawLoss(C).probabilities(scores), atol=1e-7)


def test_a_seesaw_model_trains_a_step(tiny_synthetic, tmp_path):
    from detectron2.data import build_detection_train_loader
    from detectron2.modeling import build_model

    cfg = instant_cfg(
        tmp_path,
        "MODEL.EQL.LOSS",
        "seesaw",
        "MODEL.EQL.PRIOR_PROB",
        "0.0",
        "MODEL.EQL.CLASSIFIER",
        "cosine",
    )
    model = build_model(cfg).train()
    batch = next(iter(build_detection_train_loader(cfg)))
    with EventStorage(0):
        losses = model(batch)
    total = sum(losses.values())
    total.backward()
    assert torch.isfinite(total)
    assert model.roi_heads.box_predictor.cls_loss.cum_samples.sum() > 0
