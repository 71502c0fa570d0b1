"""Softmax EQL (CVPR 2020) with a fixed beta sample and the gradient-driven Softmax-EQL after known
statistics, against hand computations and autograd."""

import math

import pytest
import torch
import torch.nn.functional as F
from common import assert_statistics_summed_over_processes, loss_state

from eql.losses import GradientSoftmaxEQL, SoftmaxEQL, softmax_eql_loss

Z = [[1.0, 2.0, 0.5], [0.2, -1.0, 1.5], [0.3, 0.1, -0.2]]


def test_softmax_eql_by_hand_with_a_fixed_beta():
    # classes 1 and 2 are tail (T = 1); rows of class 0 and class 2
    z = torch.tensor(Z[:2], dtype=torch.float64)
    gt = torch.tensor([0, 2])
    t = torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)
    beta = torch.tensor([[1, 1, 0], [1, 1, 1]])
    loss = softmax_eql_loss(z, gt, t, beta)
    # row 0: w = (1, 0, 1) (class 1 suppressed; class 2 has beta 0); row 1: w = (1, 0, 1) (own
    # class 2 never suppressed; class 0 is not tail)
    e = [[math.exp(v) for v in row] for row in Z[:2]]
    l0 = -math.log(e[0][0] / (e[0][0] + e[0][2]))
    l1 = -math.log(e[1][2] / (e[1][0] + e[1][2]))
    assert loss.item() == pytest.approx((l0 + l1) / 2, rel=1e-12)


def test_softmax_eql_without_suppression_or_gamma_is_cross_entropy():
    torch.manual_seed(0)
    z = torch.randn(20, 5, dtype=torch.float64)
    gt = torch.randint(0, 5, (20,))
    ce = F.cross_entropy(z, gt).item()
    assert SoftmaxEQL(torch.zeros(5))(z, gt).item() == pytest.approx(ce, rel=1e-12)
    assert SoftmaxEQL(torch.ones(5), gamma=0.0)(z, gt).item() == pytest.approx(ce, rel=1e-12)
    # with suppression the tail logits leave the denominators: the loss can only drop
    assert SoftmaxEQL(torch.ones(5), gamma=1.0)(z, gt).item() < ce


def test_detection_layout_never_suppresses_background():
    z = torch.tensor(Z, dtype=torch.float64, requires_grad=True)  # 2 classes + background
    gt = torch.tensor([0, 2, 1])  # row 1 is background
    t = torch.tensor([1.0, 1.0], dtype=torch.float64)
    beta = torch.ones(3, 2, dtype=torch.bool)
    loss = softmax_eql_loss(z, gt, t, beta)
    e = [[math.exp(v) for v in row] for row in Z]
    expected = (
        -math.log(e[0][0] / (e[0][0] + e[0][2]))  # class 1 suppressed, background kept
        - math.log(e[1][2] / sum(e[1]))  # a background row suppresses nothing
        - math.log(e[2][1] / (e[2][1] + e[2][2]))
    ) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    loss.backward()
    assert z.grad[0, 1] == 0 and z.grad[2, 0] == 0  # a suppressed class gets no gradient
    probs = SoftmaxEQL(t.float(), background=True).probabilities(torch.tensor(Z))
    assert torch.allclose(probs, torch.softmax(torch.tensor(Z), 1)[:, :2])


def test_beta_is_drawn_with_probability_gamma():
    loss = SoftmaxEQL(torch.ones(50), gamma=0.3)
    z = torch.zeros(2000, 50, requires_grad=True)
    gt = torch.zeros(2000, dtype=torch.int64)
    torch.manual_seed(0)
    loss(z, gt).backward()
    kept = (z.grad[:, 1:] != 0).float().mean().item()  # a class gets a gradient iff beta = 0
    assert kept == pytest.approx(0.7, abs=0.01)


def test_gradient_softmax_eql_shift_after_known_statistics():
    eql = GradientSoftmaxEQL(3, indicator="pos", tau=1.0)
    eql.pos_grad = torch.tensor([4.0, 1.0, 0.0])  # class 2 never seen: clamped at 1e-4
    z = torch.tensor(Z[:2], dtype=torch.float64)
    gt = torch.tensor([0, 1])
    loss = eql(z, gt)
    i = [4.0, 1.0, 1e-4]
    expected = 0.0
    for row, y in zip(Z[:2], (0, 1)):
        shifted = [v + (math.log(i[j] / i[y]) if j != y else 0.0) for j, v in enumerate(row)]
        expected += -math.log(math.exp(shifted[y]) / sum(math.exp(v) for v in shifted))
    assert loss.item() == pytest.approx(expected / 2, rel=1e-6)


@pytest.mark.parametrize("indicator", ["pos", "neg", "pos_and_neg"])
def test_statistics_are_the_autograd_gradient_magnitudes(indicator):
    torch.manual_seed(1)
    eql = GradientSoftmaxEQL(6, indicator=indicator, tau=1.5)
    for step in range(3):
        z = torch.randn(40, 6, dtype=torch.float64, requires_grad=True)
        gt = torch.randint(0, 6, (40,))
        pos, neg = eql.pos_grad.double().clone(), eql.neg_grad.double().clone()
        indicator_before = eql.current_indicator().double().clone()
        loss = eql(z, gt)
        loss.backward()
        y = F.one_hot(gt, 6).double()
        g = z.grad.abs()
        assert torch.allclose(eql.pos_grad.double() - pos, (g * y).sum(0), rtol=1e-5, atol=1e-8)
        assert torch.allclose(eql.neg_grad.double() - neg, (g * (1 - y)).sum(0), rtol=1e-5)
        # and the loss is the definition with the indicator of before the step
        i = indicator_before.clamp(min=1e-4)
        shift = 1.5 * (i.log()[None, :] - i.log()[gt][:, None]) * (1 - y)
        ref = F.cross_entropy(z.detach() + shift, gt)
        assert loss.item() == pytest.approx(ref.item(), rel=1e-6)
    assert torch.allclose(eql.pos_neg, eql.pos_grad / (eql.neg_grad + 1e-10))


def test_gradient_softmax_eql_starts_as_cross_entropy_and_keeps_fp32_state():
    torch.manual_seed(2)
    z = torch.randn(10, 4)
    gt = torch.randint(0, 4, (10,))
    eql = GradientSoftmaxEQL(4)
    assert eql(z, gt).item() == pytest.approx(F.cross_entropy(z, gt).item(), rel=1e-6)
    restored = GradientSoftmaxEQL(4)
    restored.load_state_dict(loss_state(eql))
    assert torch.equal(restored.pos_grad, eql.pos_grad) and (restored.pos_grad > 0).any()
    restored.half()
    assert all(b.dtype == torch.float32 for b in restored.buffers())
    empty = torch.zeros(0, 4, requires_grad=True)
    eql(empty, torch.zeros(0, dtype=torch.int64)).backward()
    assert torch.equal(eql.pos_grad, restored.pos_grad)  # an empty batch changes nothing
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = eql(torch.nn.Linear(3, 4)(torch.randn(5, 3)), torch.tensor([0, 1, 2, 3, 0]))
    assert loss.dtype == torch.float32 and eql.pos_grad.dtype == torch.float32


def _softmax_eql_batch():
    torch.manual_seed(3)
    return torch.randn(16, 5, dtype=torch.float64), torch.randint(0, 5, (16,))


def _softmax_eql5():
    return GradientSoftmaxEQL(5)


def test_two_gloo_processes_hold_identical_statistics(tmp_path):
    assert_statistics_summed_over_processes(tmp_path, _softmax_eql5, _softmax_eql_batch)


def test_seql_in_the_roi_predictor(tmp_path):
    from common import PREDICTOR_CLASSES as C
    from common import predictor_cfg, random_proposals
    from detectron2.layers import ShapeSpec
    from detectron2.utils.events import EventStorage

    from eql.modeling import EQLFastRCNNOutputLayers

    opts = ["MODEL.EQL.LOSS", "seql", "MODEL.EQL.PRIOR_PROB", "0.0"]
    cfg = predictor_cfg(tmp_path, [1, 1, 1, 90, 90, 90], *opts)  # classes 0-2 tail
    predictor = EQLFastRCNNOutputLayers(cfg, ShapeSpec(channels=16))
    assert isinstance(predictor.cls_loss, SoftmaxEQL) and predictor.cls_score.out_features == C + 1
    assert predictor.cls_loss.suppression.tolist() == [1, 1, 1, 0, 0, 0]
    x = torch.randn(10, 16)
    proposals = random_proposals([6, 4], seed=5)
    scores, deltas = predictor(x)
    gt = torch.cat([p.gt_classes for p in proposals])
    torch.manual_seed(4)
    beta = predictor.cls_loss.draw_beta(gt)
    assert not beta[:, 3:].any() and not beta[gt == C].any()  # only tail classes, fg rows
    expected = softmax_eql_loss(scores.detach(), gt, predictor.cls_loss.suppression, beta)
    torch.manual_seed(4)
    with EventStorage(0):
        loss = predictor.losses((scores, deltas), proposals)["loss_cls"]
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    probs = torch.cat(predictor.predict_probs((scores, deltas), proposals))
    assert torch.allclose(probs[:, :C], torch.softmax(scores, 1)[:, :C], atol=1e-7)

    cfg.defrost()
    cfg.MODEL.EQL.FREQUENCY_SOURCE = "none"  # the model-zoo inference path
    inference = EQLFastRCNNOutputLayers(cfg, ShapeSpec(channels=16))
    assert inference.cls_score.out_features == C + 1
    assert torch.allclose(
        torch.cat(inference.predict_probs((scores, deltas), proposals)), probs, atol=1e-7
    )
    with pytest.raises(RuntimeError, match="FREQUENCY_SOURCE"), EventStorage(0):
        inference.losses((scores, deltas), proposals)


def test_the_masked_path_equals_the_weighted_path():
    torch.manual_seed(6)
    z = torch.randn(30, 7, dtype=torch.float64, requires_grad=True)  # 6 classes + background
    gt = torch.randint(0, 7, (30,))
    t = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 1.0], dtype=torch.float64)
    beta = torch.rand(30, 6) < 0.7
    exempt = torch.rand(30, 6) < 0.2
    fast = softmax_eql_loss(z, gt, t, beta, exempt)  # 0/1 suppression: masked
    almost = t * (1 - 1e-12) + (1 - t) * 1e-300  # not 0/1: the log-weight path
    slow = softmax_eql_loss(z, gt, almost, beta, exempt)
    assert fast.item() == pytest.approx(slow.item(), rel=1e-9)
