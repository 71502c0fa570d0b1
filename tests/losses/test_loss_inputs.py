"""The pure-torch losses check their inputs (label dtype and range, shapes) with one ValueError
naming the range, and non-finite logits never reach their persistent statistics: the step is
skipped and counted (``skipped_nonfinite_steps``), the loss value stays non-finite for the caller
(an AMP GradScaler skips such a step too)."""

import pytest
import torch
from common import EVERY_LOSS
from common import LOSS_CLASSES as C
from common import every_loss_class_is_covered

from eql.losses import (
    GradientSoftmaxEQL,
    SoftmaxCrossEntropy,
)
from eql.losses.dense_softmax import dense_loss

STATEFUL = [
    "eqlv2",
    "eqlv2_detection",
    "efl",
    "softmax_eql",
]  # statistics from the logits' gradients (Seesaw: labels)
# docs/robustness.md's rows -> the test of each (tests/robustness/test_robustness.py checks)
ROBUSTNESS_CASES = {
    "L01-labels-out-of-range": "test_labels_out_of_range_are_refused_naming_the_range",
    "L02-labels-not-integers": "test_labels_must_be_integers",
    "L03-logits-of-another-shape": "test_shapes_are_checked",
    "L04-nan-logits-and-statistics": "test_nonfinite_logits_never_reach_the_statistics",
    "L05-nan-logits-and-gradient-record": "test_nonfinite_logits_never_reach_the_gradient_record",
    "L06-segmentation-labels": "test_dense_labels_are_classes_or_the_ignore_value",
    "L07-segmentation-nan-logits": "test_dense_nonfinite_logits_never_reach_the_statistics",
}


def test_every_loss_class_is_covered():
    every_loss_class_is_covered()


def _batch(loss, labels, dtype=torch.float32):
    torch.manual_seed(0)
    logits = torch.randn(len(labels), loss.num_logits, dtype=dtype, requires_grad=True)
    return logits, torch.as_tensor(labels)


@pytest.mark.parametrize("name", EVERY_LOSS)
def test_labels_out_of_range_are_refused_naming_the_range(name):
    make, top = EVERY_LOSS[name]
    loss = make()
    logits, ok = _batch(loss, list(range(top + 1)))
    loss(logits, ok).backward()  # every label of the range is taken
    what = f"[0, {top}] ({top}: background)" if top == C else f"[0, {top}]"
    for bad, shown in (([0, -1], "[-1, 0]"), ([top + 1, 1], f"[1, {top + 1}]")):
        with pytest.raises(
            ValueError,
            match=rf"gt_classes must be in {_re(what)} for 5 classes, got values in {_re(shown)}",
        ):
            loss(*_batch(loss, bad))


def _re(text):
    import re

    return re.escape(text)


@pytest.mark.parametrize("name", EVERY_LOSS)
@pytest.mark.parametrize("labels", [[0.0, 1.0], [True, False]])
def test_labels_must_be_integers(name, labels):
    loss = EVERY_LOSS[name][0]()
    with pytest.raises(ValueError, match="gt_classes must be an integer tensor"):
        loss(torch.zeros(2, loss.num_logits), torch.tensor(labels))


@pytest.mark.parametrize("name", EVERY_LOSS)
def test_shapes_are_checked(name):
    loss = EVERY_LOSS[name][0]()
    with pytest.raises(ValueError, match=rf"logits must be \(N, {loss.num_logits}\)"):
        loss(torch.zeros(2, loss.num_logits + 1), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"gt_classes must be \(2,\)"):
        loss(torch.zeros(2, loss.num_logits), torch.tensor([0, 1, 2]))


@pytest.mark.parametrize("name", STATEFUL)
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nonfinite_logits_never_reach_the_statistics(name, bad):
    """A batch with one NaN / inf logit leaves the statistics as they were and is counted; the
    loss value is not finite; the next finite batch updates the statistics exactly as if the bad
    batch had never come."""
    make, top = EVERY_LOSS[name]
    labels = [0, 1, 2, top]
    poisoned, clean = make(), make()
    first, gt = _batch(poisoned, labels)
    poisoned(first, gt)
    clean(first.detach(), gt)
    before = {k: v.clone() for k, v in poisoned.state_dict().items()}
    logits = first.detach().clone()
    logits[1, 2] = bad
    value = poisoned(logits, gt)
    assert not torch.isfinite(value)
    for k, v in poisoned.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert poisoned.skipped_nonfinite_steps == 1
    second = first.detach() * 0.5
    poisoned(second, gt)
    clean(second, gt)
    for k, v in clean.state_dict().items():
        assert torch.equal(poisoned.state_dict()[k], v), k
        assert torch.isfinite(v).all(), k


@pytest.mark.parametrize("name", ["sigmoid_ce", "eql", "eqlv2", "focal", "efl"])
def test_nonfinite_logits_never_reach_the_gradient_record(name):
    make, top = EVERY_LOSS[name]
    loss = make().record_gradients()
    logits, gt = _batch(loss, [0, 1, top])
    loss(logits, gt).backward()
    before = {k: v.clone() for k, v in loss.gradient_record.state_dict().items()}
    bad = logits.detach().clone().requires_grad_(True)
    with torch.no_grad():
        bad[0, 0] = float("nan")
    out = loss(bad, gt)
    if out.requires_grad:
        out.backward()
    for k, v in loss.gradient_record.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert loss.gradient_record.skipped_nonfinite_steps == 1


@pytest.mark.parametrize("make", [lambda: SoftmaxCrossEntropy(3), lambda: GradientSoftmaxEQL(3)])
def test_dense_labels_are_classes_or_the_ignore_value(make):
    loss = make()
    logits = torch.randn(1, 3, 4, 4)
    targets = torch.full((1, 4, 4), 255)
    targets[0, :2] = 2
    assert torch.isfinite(dense_loss(loss, logits, targets))
    targets[0, 3, 3] = 3
    with pytest.raises(ValueError, match=r"gt_classes must be in \[0, 2\] or 255 \(ignored\)"):
        dense_loss(loss, logits, targets)


def test_dense_nonfinite_logits_never_reach_the_statistics():
    loss = GradientSoftmaxEQL(3)
    logits = torch.randn(1, 3, 4, 4)
    targets = torch.full((1, 4, 4), 255)
    targets[0, :2] = 2
    dense_loss(loss, logits, targets)
    before = {k: v.clone() for k, v in loss.state_dict().items()}
    logits[0, 1, 0, 0] = float("inf")
    dense_loss(loss, logits, targets)
    assert all(torch.equal(v, before[k]) for k, v in loss.state_dict().items())
    assert loss.skipped_nonfinite_steps == 1
