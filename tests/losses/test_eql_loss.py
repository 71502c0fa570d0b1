"""Sigmoid EQL against hand computations of eq. (7) of the paper."""

import ast
import glob
import math
import os

import pytest
import torch
from common import REPO, bce, sig

from eql.losses import (
    SigmoidCrossEntropy,
    SigmoidEQL,
    eql_weights,
    sigmoid_eql_loss,
    suppression_strength,
)

LOGITS = [[2.0, -1.0, 0.5], [0.3, -2.0, 1.5], [-0.7, 1.2, 0.4]]


def _logits():
    return torch.tensor(LOGITS, dtype=torch.float64, requires_grad=True)


def test_foreground_tail_negatives_ignored_background_keeps_all():
    # proposal 0: class 0; proposal 1: background (C = 3); proposal 2: class 2. Tail: classes 1, 2.
    z, gt, t = _logits(), torch.tensor([0, 3, 2]), torch.tensor([0.0, 1.0, 1.0])
    loss = sigmoid_eql_loss(z, gt, t)
    L = LOGITS
    by_hand = (
        bce(L[0][0], 1)  # row 0: tail negatives (classes 1, 2) ignored
        + bce(L[1][0], 0)
        + bce(L[1][1], 0)
        + bce(L[1][2], 0)  # background: every class
        + bce(L[2][0], 0)
        + bce(L[2][2], 1)  # row 2: class 0 is a head class; 1 is tail
    ) / 3
    assert loss.item() == pytest.approx(by_hand, rel=1e-12)
    loss.backward()
    g = z.grad
    # the gradient is (sigmoid(z) - y) w / N, exactly zero where w = 0
    assert g[0, 1] == 0 and g[0, 2] == 0 and g[2, 1] == 0
    assert g[0, 0].item() == pytest.approx((sig(L[0][0]) - 1) / 3, rel=1e-12)
    assert g[1, 1].item() == pytest.approx(sig(L[1][1]) / 3, rel=1e-12)
    assert g[2, 0].item() == pytest.approx(sig(L[2][0]) / 3, rel=1e-12)


def test_gradient_matches_autograd_of_the_equation():
    torch.manual_seed(0)
    z = torch.randn(50, 7, dtype=torch.float64, requires_grad=True)
    gt = torch.randint(0, 8, (50,))
    t = torch.rand(7, dtype=torch.float64)
    exempt = torch.rand(50, 7) < 0.2
    loss = sigmoid_eql_loss(z, gt, t, exempt)
    loss.backward()
    z2 = z.detach().clone().requires_grad_(True)
    y = torch.zeros(50, 8, dtype=torch.float64)
    y[torch.arange(50), gt] = 1
    y = y[:, :7]
    e = (gt < 7).double()[:, None]
    w = 1 - e * t[None] * (1 - y)
    w = torch.where(exempt, torch.ones_like(w), w)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(z2, y, reduction="none") * w
    ref = ref.sum() / 50
    ref.backward()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-12)
    assert torch.allclose(z.grad, z2.grad, atol=1e-15)


def test_image_level_exemption_restores_weight_one():
    z, gt, t = _logits(), torch.tensor([0, 3, 2]), torch.tensor([0.0, 1.0, 1.0])
    exempt = torch.zeros(3, 3, dtype=torch.bool)
    exempt[0, 1] = True  # class 1 is annotated in (or verified absent from) proposal 0's image
    exempt[1, 2] = True  # no effect on a background proposal
    base = sigmoid_eql_loss(z, gt, t).item()
    with_exempt = sigmoid_eql_loss(z, gt, t, exempt).item()
    assert with_exempt - base == pytest.approx(bce(LOGITS[0][1], 0) / 3, rel=1e-12)
    w = eql_weights(gt, t, exempt)
    assert w.tolist() == [[1, 1, 0], [1, 1, 1], [1, 0, 1]]


@pytest.mark.parametrize(
    "name,f,expected",
    [
        ("threshold", [0.0, 0.0099, 0.01, 0.02], [1, 1, 0, 0]),
        ("exponential", [0.0, 0.01, 0.02, 0.04], [1, 0.5, 0.25, 0.0625]),
    ],
)
def test_suppression_functions_exact(name, f, expected):
    t = suppression_strength(torch.tensor(f, dtype=torch.float64), name, 0.01)
    assert t.tolist() == pytest.approx(expected, rel=1e-6)


def test_gompertz_is_a_smooth_step_at_lambda():
    f = torch.tensor([0.0, 0.005, 0.01, 0.02, 0.05], dtype=torch.float64)
    t = suppression_strength(f, "gompertz", 0.01)
    assert t[0].item() == pytest.approx(1 - math.exp(-20), rel=1e-6)
    assert t[2].item() == pytest.approx(0.5, abs=1e-4)  # T(lambda) = 1/2 with the defaults
    assert bool((t[1:] < t[:-1]).all()) and t[-1] < 0.01
    b, c = 5.0, 2.0
    t2 = suppression_strength(f, "gompertz", 0.01, b=b, c=c)
    assert t2[3].item() == pytest.approx(1 - math.exp(-b * math.exp(-c * 2)), rel=1e-6)


def test_smooth_weights_enter_the_loss():
    # fractional suppression: w = 1 - T for foreground negatives
    z, gt = _logits(), torch.tensor([0, 3, 2])
    t = suppression_strength(torch.tensor([0.0, 0.01, 0.02]), "exponential", 0.01).double()
    loss = sigmoid_eql_loss(z, gt, t).item()
    L = LOGITS
    by_hand = (
        bce(L[0][0], 1)
        + 0.5 * bce(L[0][1], 0)
        + 0.75 * bce(L[0][2], 0)
        + sum(bce(v, 0) for v in L[1])
        + 0.0 * bce(L[2][0], 0)
        + 0.5 * bce(L[2][1], 0)
        + bce(L[2][2], 1)
    ) / 3
    assert loss == pytest.approx(by_hand, rel=1e-6)


def test_no_tail_class_is_sigmoid_ce():
    torch.manual_seed(1)
    z = torch.randn(20, 5, dtype=torch.float64, requires_grad=True)
    gt = torch.randint(0, 6, (20,))
    eql = SigmoidEQL(torch.zeros(5))(z, gt)
    ce = SigmoidCrossEntropy(5)(z, gt)
    assert eql.item() == pytest.approx(ce.item(), rel=1e-12)


def test_empty_batch_backpropagates():
    z = torch.zeros(0, 4, requires_grad=True)
    loss = SigmoidEQL(torch.ones(4))(z, torch.zeros(0, dtype=torch.int64))
    assert loss.item() == 0.0
    loss.backward()
    assert z.grad is not None and z.grad.shape == (0, 4)


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown suppression function"):
        suppression_strength(torch.zeros(2), "cosine", 0.1)
    with pytest.raises(ValueError, match="lambda"):
        suppression_strength(torch.zeros(2), "threshold", 0.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        SigmoidEQL(torch.tensor([0.5, 1.5]))
    with pytest.raises(ValueError, match="classes"):
        SigmoidEQL(torch.zeros(3))(torch.zeros(2, 4), torch.zeros(2, dtype=torch.int64))


def test_losses_package_does_not_import_detectron2():
    for path in glob.glob(os.path.join(REPO, "eql", "losses", "*.py")):
        tree = ast.parse(open(path).read())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
                assert node.level <= 1, path  # nothing from outside eql.losses
            assert not any(n.startswith("detectron2") for n in names), path
