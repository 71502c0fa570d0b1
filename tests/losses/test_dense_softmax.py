"""Per-pixel softmax CE and Softmax-EQL on (N, C, H, W) logits equal their row forms."""

import pytest
import torch
import torch.nn.functional as F

from eql.losses import GradientSoftmaxEQL, SoftmaxCrossEntropy, dense_loss


def _pixels(seed=0, c=5):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(2, c, 6, 7, generator=g, dtype=torch.float64)
    t = torch.randint(0, c, (2, 6, 7), generator=g)
    t[0, :2] = 255  # ignored pixels
    return z, t


def _rows(z, t):
    rows = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
    labels = t.reshape(-1)
    keep = labels != 255
    return rows, labels, keep


def test_dense_cross_entropy_equals_torch_with_ignore_index():
    z, t = _pixels()
    z1, z2 = z.clone().requires_grad_(True), z.clone().requires_grad_(True)
    ours = dense_loss(SoftmaxCrossEntropy(5), z1, t)
    theirs = F.cross_entropy(z2, t, ignore_index=255)
    ours.backward(), theirs.backward()
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)
    assert torch.allclose(z1.grad.double(), z2.grad, atol=1e-7)
    assert torch.all(z1.grad[0, :, :2] == 0)


def test_dense_softmax_eql_equals_the_row_form_over_steps():
    dense, rows_loss = GradientSoftmaxEQL(5, tau=1.5), GradientSoftmaxEQL(5, tau=1.5)
    for step in range(3):
        z, t = _pixels(seed=step)
        z1, z2 = z.clone().requires_grad_(True), z.clone().requires_grad_(True)
        a = dense_loss(dense, z1, t)
        rows, labels, keep = _rows(z2, t)
        b = rows_loss(rows[keep], labels[keep])
        a.backward(), b.backward()
        assert a.item() == pytest.approx(b.item(), rel=1e-6)
        assert torch.allclose(z1.grad.double(), z2.grad, atol=1e-7)
        for name in ("pos_grad", "neg_grad", "pos_neg"):
            assert torch.allclose(getattr(dense, name), getattr(rows_loss, name), rtol=1e-5)
    assert (dense.pos_grad > 0).all()


def test_losses_without_a_per_pixel_form_are_refused():
    from eql.losses import SigmoidCrossEntropy

    with pytest.raises(TypeError, match="per-pixel"):
        dense_loss(SigmoidCrossEntropy(5), *_pixels())
