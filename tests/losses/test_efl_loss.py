"""Equalized Focal Loss and the focal loss against hand computations, detectron2's focal loss and
autograd."""

import math

import pytest
import torch
from common import assert_statistics_summed_over_processes, loss_state, sig
from fvcore.nn import sigmoid_focal_loss_jit

from eql.losses import EqualizedFocalLoss, LossContext, SigmoidFocalLoss, sigmoid_focal_loss


def focal_term(z, y, gamma, alpha, w=1.0):
    """-alpha_t w (1 - p_t)^gamma log(p_t) of one logit, by hand."""
    p = sig(z)
    p_t = p if y else 1 - p
    a_t = (alpha if y else 1 - alpha) if alpha >= 0 else 1.0
    return -a_t * w * (1 - p_t) ** gamma * math.log(p_t)


def reference_efl(z, gt, ratio, gamma_b=2.0, s=8.0, alpha=0.25, normalizer=1.0):
    """EFL written out from its definition, for autograd (float64)."""
    n, c = z.shape
    y = torch.zeros(n, c + 1, dtype=z.dtype)
    y[torch.arange(n), gt] = 1
    y = y[:, :c]
    p = torch.sigmoid(z)
    p_t = p * y + (1 - p) * (1 - y)
    gamma = gamma_b + s * (1 - ratio)
    a_t = alpha * y + (1 - alpha) * (1 - y) if alpha >= 0 else torch.ones_like(y)
    return (-a_t * (gamma / gamma_b) * (1 - p_t) ** gamma * torch.log(p_t)).sum() / normalizer


def _batch(n=40, c=6, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, c, generator=g, dtype=dtype) * 3
    gt = torch.randint(0, c + 1, (n,), generator=g)
    gt[n // 2 :] = c  # most rows background, as anchors are
    return z, gt


def _detectron2_focal(z, gt, alpha, normalizer):
    """detectron2's RetinaNet classification loss (fvcore's focal loss computes in fp32)."""
    c = z.shape[1]
    target = torch.nn.functional.one_hot(gt, c + 1)[:, :c].to(z.dtype)
    return sigmoid_focal_loss_jit(z, target, alpha=alpha, gamma=2.0, reduction="sum") / normalizer


@pytest.mark.parametrize("alpha", [0.25, -1.0])
def test_focal_loss_equals_detectron2s(alpha):
    z, gt = _batch(dtype=torch.float32)
    z1, z2 = z.clone().requires_grad_(True), z.clone().requires_grad_(True)
    ours = sigmoid_focal_loss(z1, gt, gamma=2.0, alpha=alpha, normalizer=7.0)
    theirs = _detectron2_focal(z2, gt, alpha, 7.0)
    ours.backward(), theirs.backward()
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)
    assert torch.allclose(z1.grad, z2.grad, rtol=1e-5, atol=1e-7)
    # and exactly (float64) the definition with gamma_j = 2, w_j = 1
    z64 = z.double().requires_grad_(True)
    ref = reference_efl(z64, gt, torch.ones(z.shape[1], dtype=torch.float64), alpha=alpha,
                        normalizer=7.0)  # fmt: skip
    ours64 = sigmoid_focal_loss(z.double(), gt, gamma=2.0, alpha=alpha, normalizer=7.0)
    assert ours64.item() == pytest.approx(ref.item(), rel=1e-12)


def test_efl_with_g_one_is_detectron2s_focal_loss():
    z, gt = _batch(seed=1, dtype=torch.float32)
    efl = EqualizedFocalLoss(z.shape[1])  # g starts at 1
    z1, z2 = z.clone().requires_grad_(True), z.clone().requires_grad_(True)
    ours = efl(z1, gt, LossContext(normalizer=5.0))
    theirs = _detectron2_focal(z2, gt, 0.25, 5.0)
    ours.backward(), theirs.backward()
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)
    assert torch.allclose(z1.grad, z2.grad, rtol=1e-5, atol=1e-7)


def test_efl_by_hand_with_given_ratios():
    # 2 classes; g = (1, 0.25): gamma = (2, 2 + 8 * 0.75 = 8), weights (1, 4)
    efl = EqualizedFocalLoss(2)
    efl.pos_neg = torch.tensor([1.0, 0.25])
    z = torch.tensor([[1.5, -0.5], [0.2, 2.0], [-1.0, -3.0]], dtype=torch.float64)
    gt = torch.tensor([0, 1, 2])  # row 2: background
    loss = efl(z, gt, LossContext(normalizer=2.0))
    y = [[1, 0], [0, 1], [0, 0]]
    gammas, weights = [2.0, 8.0], [1.0, 4.0]
    by_hand = sum(
        focal_term(z[i, j].item(), y[i][j], gammas[j], 0.25, weights[j])
        for i in range(3)
        for j in range(2)
    )
    assert loss.item() == pytest.approx(by_hand / 2.0, rel=1e-12)


def test_statistics_are_the_autograd_gradient_magnitudes():
    z, gt = _batch(seed=2)
    c = z.shape[1]
    efl = EqualizedFocalLoss(c)
    efl.pos_neg = torch.linspace(0.1, 1.0, c)
    ratio = efl.pos_neg.double().clone()
    z1, z2 = z.clone().requires_grad_(True), z.clone().requires_grad_(True)
    loss = efl(z1, gt, LossContext(normalizer=3.0))
    loss.backward()
    ref = reference_efl(z2, gt, ratio, normalizer=3.0)
    ref.backward()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-10)
    assert torch.allclose(z1.grad, z2.grad, rtol=1e-9, atol=1e-14)
    y = torch.nn.functional.one_hot(gt, c + 1)[:, :c].double()
    grad = z2.grad.abs()
    assert torch.allclose(efl.pos_grad.double(), (grad * y).sum(0), rtol=1e-6)
    assert torch.allclose(efl.neg_grad.double(), (grad * (1 - y)).sum(0), rtol=1e-6)
    expected = torch.clamp(efl.pos_grad / (efl.neg_grad + 1e-10), 0, 1)
    assert torch.equal(efl.pos_neg, expected)
    assert efl.pos_neg.max() <= 1 and efl.pos_neg.min() >= 0


def test_the_next_step_uses_the_updated_focusing_factors():
    z, gt = _batch(seed=3)
    c = z.shape[1]
    efl = EqualizedFocalLoss(c)
    efl(z, gt)
    g = efl.pos_neg.double().clone()
    assert (g < 1).any()
    z2 = z.clone().requires_grad_(True)
    assert efl(z2, gt).item() == pytest.approx(
        reference_efl(z2, gt, g, normalizer=z.shape[0]).item(), rel=1e-10
    )


def test_fp32_logits_and_large_magnitudes_stay_finite():
    z = torch.tensor([[40.0, -40.0, 0.0], [-60.0, 60.0, 1e-3]], requires_grad=True)
    gt = torch.tensor([1, 3])  # row 0: class 1 (z = -40, hard positive); row 1: background
    efl = EqualizedFocalLoss(3)
    efl.pos_neg = torch.tensor([0.0, 0.5, 1.0])
    loss = efl(z, gt)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    assert torch.isfinite(efl.pos_grad).all() and torch.isfinite(efl.neg_grad).all()


def test_empty_batch_backpropagates_and_changes_no_statistic():
    efl = EqualizedFocalLoss(4)
    z = torch.zeros(0, 4, requires_grad=True)
    loss = efl(z, torch.zeros(0, dtype=torch.int64), LossContext(normalizer=10.0))
    loss.backward()
    assert loss.item() == 0 and z.grad.shape == (0, 4)
    assert torch.all(efl.pos_neg == 1) and torch.all(efl.neg_grad == 0)


def test_statistics_stay_fp32_under_bf16_autocast_and_in_the_state_dict():
    efl = EqualizedFocalLoss(5)
    linear = torch.nn.Linear(8, 5)
    x = torch.randn(30, 8)
    gt = torch.randint(0, 6, (30,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = efl(linear(x), gt, LossContext(normalizer=4.0))
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(linear.weight.grad).all()
    assert set(efl.state_dict()) == {"pos_grad", "neg_grad", "pos_neg"}
    assert all(b.dtype == torch.float32 for b in efl.buffers())
    restored = EqualizedFocalLoss(5)
    restored.load_state_dict(loss_state(efl))
    assert torch.equal(restored.pos_neg, efl.pos_neg) and (restored.pos_grad > 0).any()


def test_focal_module_uses_the_context_normalizer_and_records_gradients():
    z, gt = _batch(seed=4)
    c = z.shape[1]
    focal = SigmoidFocalLoss(c).record_gradients()
    z1 = z.clone().requires_grad_(True)
    loss = focal(z1, gt, LossContext(normalizer=4.0))
    loss.backward()
    assert loss.item() == pytest.approx(sigmoid_focal_loss(z, gt, normalizer=4.0).item())
    y = torch.nn.functional.one_hot(gt, c + 1)[:, :c].double()
    record = focal.gradient_record
    assert torch.allclose(record.pos.double(), (z1.grad.abs() * y).sum(0), rtol=1e-6)
    assert torch.allclose(record.neg.double(), (z1.grad.abs() * (1 - y)).sum(0), rtol=1e-6)


def _efl_batch():
    return _batch(n=32, seed=5)


def _efl6():
    return EqualizedFocalLoss(6)


def test_two_gloo_processes_hold_identical_statistics_equal_to_one_process(tmp_path):
    assert_statistics_summed_over_processes(tmp_path, _efl6, _efl_batch, normalizer=6.0)
