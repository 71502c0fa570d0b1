"""Every sigmoid loss records the magnitudes of its own gradient, per class, on / off target."""

import pytest
import torch

from eql.diagnostics.gradient_stats import bin_means, record_tag
from eql.losses import EQLv2, SigmoidCrossEntropy, SigmoidEQL


def _batch(num_classes, num_logits, n=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, num_logits, generator=g, dtype=torch.float64)
    gt = torch.randint(0, num_classes + 1, (n,), generator=g)  # num_classes: background
    return z, gt


@pytest.mark.parametrize(
    "make,objectness",
    [
        (lambda: SigmoidCrossEntropy(5), False),
        (lambda: SigmoidEQL(torch.tensor([0.0, 1.0, 1.0, 0.0, 0.5])), False),
        (lambda: EQLv2(5), True),
    ],
    ids=["sigmoid_ce", "eql", "eqlv2"],
)
def test_record_equals_the_autograd_gradient(make, objectness):
    loss_fn = make().record_gradients()
    total_pos = torch.zeros(5, dtype=torch.float64)
    total_neg = torch.zeros(5, dtype=torch.float64)
    for step in range(2):  # accumulates (EQLv2: with the weights of each step)
        z, gt = _batch(5, 5 + int(objectness), seed=step)
        z.requires_grad_(True)
        loss_fn(z, gt).backward()
        y = torch.nn.functional.one_hot(gt, 6)[:, :5].double()
        grad = z.grad[:, :5].abs()
        total_pos += (grad * y).sum(0)
        total_neg += (grad * (1 - y)).sum(0)
    record = loss_fn.gradient_record
    assert torch.allclose(record.pos.double(), total_pos, rtol=1e-6)
    assert torch.allclose(record.neg.double(), total_neg, rtol=1e-6)
    assert torch.allclose(record.ratio(), record.pos / (record.neg + 1e-10))
    assert set(loss_fn.state_dict()) >= {"gradient_record.pos", "gradient_record.neg"}


def test_bin_means_and_tags():
    assert bin_means([1.0, 3.0, 2.0, 6.0], ["r", "r", "c", "f"]) == {"r": 2.0, "c": 2.0, "f": 6.0}
    assert bin_means([1.0], ["f"]) == {"f": 1.0}
    assert record_tag("roi_heads.box_predictor.1.cls_loss") == "roi_heads.box_predictor.1"
    assert record_tag("cls_loss") == "head"
