"""EQLv2 against hand computations and against a line-by-line transcription of its formulas."""

import math

import pytest
import torch
import torch.nn.functional as F
from common import bce, loss_state, run_gloo, sig

from eql.losses import EQLv2, LossContext

# two proposals, C = 2 classes + objectness; row 0 is class 0, row 1 background
LOGITS = [[1.0, -0.5, 0.2], [0.3, 0.8, -1.0]]
GT = [0, 2]


def _z(rows=LOGITS, dtype=torch.float64):
    return torch.tensor(rows, dtype=dtype, requires_grad=True)


def q_of(g, gamma=12.0, mu=0.8):
    return 1 / (1 + math.exp(-gamma * (g - mu)))


class ReferenceEQLv2:
    """EQLv2 written out from its definition, with autograd (float64)."""

    def __init__(self, c, gamma=12.0, mu=0.8, alpha=4.0):
        self.gamma, self.mu, self.alpha = gamma, mu, alpha
        self.pos = torch.zeros(c, dtype=torch.float64)
        self.neg = torch.zeros(c, dtype=torch.float64)
        self.ratio = torch.full((c,), 100.0, dtype=torch.float64)

    def step(self, z, gt):
        n, c1 = z.shape
        y = torch.zeros(n, c1, dtype=torch.float64)
        y[torch.arange(n), gt] = 1
        q = torch.cat([1 / (1 + torch.exp(-self.gamma * (self.ratio - self.mu))), torch.ones(1)])
        r = 1 + self.alpha * (1 - q)
        w = r * y + q * (1 - y)
        loss = (F.binary_cross_entropy_with_logits(z, y, reduction="none") * w).sum() / n
        g = (torch.sigmoid(z.detach()) - y).abs()
        self.pos += (g * y * w).sum(0)[:-1]
        self.neg += (g * (1 - y) * w).sum(0)[:-1]
        self.ratio = self.pos / (self.neg + 1e-10)
        return loss, q, r


def test_first_step_is_plain_bce_with_an_objectness_target():
    # g starts at 100: q = r = 1; background rows have target 1 on the objectness column
    loss = EQLv2(2)(_z(), torch.tensor(GT))
    L = LOGITS
    by_hand = (
        bce(L[0][0], 1) + bce(L[0][1], 0) + bce(L[0][2], 0)
        + bce(L[1][0], 0) + bce(L[1][1], 0) + bce(L[1][2], 1)
    ) / 2  # fmt: skip
    assert loss.item() == pytest.approx(by_hand, rel=1e-12)


def test_statistics_and_second_step_by_hand():
    eqlv2 = EQLv2(2)
    eqlv2(_z(), torch.tensor(GT))
    L = LOGITS
    pos = [1 - sig(L[0][0]), 0.0]  # |sigmoid - 1| of class 0's row; class 1 has no row
    neg = [sig(L[1][0]), sig(L[0][1]) + sig(L[1][1])]
    assert eqlv2.pos_grad.tolist() == pytest.approx(pos, rel=1e-6)
    assert eqlv2.neg_grad.tolist() == pytest.approx(neg, rel=1e-6)
    g = [pos[0] / neg[0], 0.0]
    assert eqlv2.pos_neg.tolist() == pytest.approx(g, rel=1e-6)

    # step 2 on the same rows: q_j on negatives, r_j = 1 + 4 (1 - q_j) on positives, 1 for obj.
    q = [q_of(g[0]), q_of(g[1])]
    r = [1 + 4 * (1 - q[0]), 1 + 4 * (1 - q[1])]
    loss = eqlv2(_z(), torch.tensor(GT))
    by_hand = (
        r[0] * bce(L[0][0], 1) + q[1] * bce(L[0][1], 0) + bce(L[0][2], 0)
        + q[0] * bce(L[1][0], 0) + q[1] * bce(L[1][1], 0) + bce(L[1][2], 1)
    ) / 2  # fmt: skip
    assert loss.item() == pytest.approx(by_hand, rel=1e-6)
    # statistics add the weighted magnitudes of step 2
    pos2 = [pos[0] + (1 - sig(L[0][0])) * r[0], 0.0]
    neg2 = [neg[0] + sig(L[1][0]) * q[0], neg[1] + (sig(L[0][1]) + sig(L[1][1])) * q[1]]
    assert eqlv2.pos_grad.tolist() == pytest.approx(pos2, rel=1e-6)
    assert eqlv2.neg_grad.tolist() == pytest.approx(neg2, rel=1e-6)


def test_three_batches_equal_the_reference_weights_statistics_and_gradients():
    torch.manual_seed(0)
    c = 7
    ours, ref = EQLv2(c), ReferenceEQLv2(c)
    for step in range(3):
        n = 20 + 5 * step
        z = torch.randn(n, c + 1, dtype=torch.float64) * 2
        gt = torch.randint(0, c + 1, (n,))
        gt[:3] = torch.tensor([0, 0, c])  # class 0 appears often, the others less
        q, r = ours.class_weights()
        z1, z2 = z.clone().requires_grad_(True), z.clone().requires_grad_(True)
        loss = ours(z1, gt)
        loss.backward()
        loss_ref, q_ref, r_ref = ref.step(z2, gt)
        loss_ref.backward()
        assert torch.allclose(q.double(), q_ref, rtol=1e-6) and torch.allclose(r.double(), r_ref)
        assert loss.item() == pytest.approx(loss_ref.item(), rel=1e-6)
        assert torch.allclose(z1.grad, z2.grad, rtol=1e-6, atol=1e-9)
        assert torch.allclose(ours.pos_grad.double(), ref.pos, rtol=1e-5)
        assert torch.allclose(ours.neg_grad.double(), ref.neg, rtol=1e-5)
        assert torch.allclose(ours.pos_neg.double(), ref.ratio, rtol=1e-5)
    # after three batches the weights moved away from 1 for the classes with few positives
    q, r = ours.class_weights()
    assert q[:-1].min() < 0.5 and r[:-1].max() > 2 and q[-1] == 1 and r[-1] == 1


def test_probabilities_with_and_without_objectness():
    z = torch.tensor(LOGITS)
    p = torch.sigmoid(z)
    with_obj = EQLv2(2).probabilities(z)
    assert torch.allclose(with_obj, p[:, :2] * (1 - p[:, 2:]))
    assert torch.allclose(EQLv2(2, test_with_obj=False).probabilities(z), p[:, :2])
    assert EQLv2(2).num_logits == 3 and EQLv2(2).objectness


def test_empty_batch_backpropagates_and_changes_no_statistic():
    eqlv2 = EQLv2(4)
    z = torch.zeros(0, 5, requires_grad=True)
    loss = eqlv2(z, torch.zeros(0, dtype=torch.int64))
    assert loss.item() == 0
    loss.backward()
    assert z.grad is not None and z.grad.shape == (0, 5)
    assert torch.all(eqlv2.pos_neg == 100) and torch.all(eqlv2.pos_grad == 0)


def test_normalizer_from_the_context():
    a = EQLv2(2)(_z(), torch.tensor(GT))
    b = EQLv2(2)(_z(), torch.tensor(GT), LossContext(normalizer=8.0))
    assert b.item() == pytest.approx(a.item() * 2 / 8, rel=1e-12)


def test_statistics_are_fp32_buffers_in_the_state_dict_and_survive_casts():
    eqlv2 = EQLv2(3)
    assert set(eqlv2.state_dict()) == {"pos_grad", "neg_grad", "pos_neg"}
    eqlv2(torch.randn(6, 4, dtype=torch.float64), torch.tensor([0, 1, 3, 3, 2, 0]))
    state = loss_state(eqlv2)
    restored = EQLv2(3)
    restored.load_state_dict(state)
    for k, v in state.items():
        assert torch.equal(getattr(restored, k), v) and v.dtype == torch.float32
    restored.half()
    assert all(getattr(restored, k).dtype == torch.float32 for k in state)


def test_statistics_stay_fp32_under_bf16_autocast():
    eqlv2 = EQLv2(3)
    linear = torch.nn.Linear(8, 4)
    x = torch.randn(10, 8)
    gt = torch.tensor([0, 1, 2, 3, 3, 3, 0, 1, 3, 3])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = linear(x)
        assert logits.dtype == torch.bfloat16
        loss = eqlv2(logits, gt)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert linear.weight.grad.dtype == torch.float32 and torch.isfinite(linear.weight.grad).all()
    assert all(b.dtype == torch.float32 for b in eqlv2.buffers())
    # the statistics are those of the fp32 loss on the same (bf16-rounded) logits
    ref = EQLv2(3)
    ref(logits.detach().float(), gt)
    assert torch.allclose(eqlv2.pos_grad, ref.pos_grad) and torch.equal(eqlv2.pos_neg, ref.pos_neg)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        EQLv2(3)(torch.zeros(2, 3), torch.zeros(2, dtype=torch.int64))


def _two_rank_step(rank, world_size, out_dir):
    torch.manual_seed(0)
    z = torch.randn(16, 6, dtype=torch.float64)
    gt = torch.randint(0, 6, (16,))
    eqlv2 = EQLv2(5)
    rows = slice(8 * rank, 8 * rank + 8)
    for _ in range(2):
        eqlv2(z[rows], gt[rows], LossContext(normalizer=8.0))
    # an empty batch on rank 1 still joins rank 0's update
    rows = slice(0, 8) if rank == 0 else slice(0, 0)
    eqlv2(z[rows], gt[rows], LossContext(normalizer=8.0))
    torch.save(loss_state(eqlv2), f"{out_dir}/rank{rank}.pth")


def test_two_gloo_processes_hold_identical_statistics_equal_to_one_process(tmp_path):
    run_gloo(_two_rank_step, 2, tmp_path, str(tmp_path))
    s0, s1 = (torch.load(tmp_path / f"rank{r}.pth") for r in (0, 1))
    torch.manual_seed(0)
    z = torch.randn(16, 6, dtype=torch.float64)
    gt = torch.randint(0, 6, (16,))
    single = EQLv2(5)  # no torch.distributed: works as is
    for _ in range(2):
        single(z, gt, LossContext(normalizer=8.0))
    single(z[:8], gt[:8], LossContext(normalizer=8.0))
    for k in s0:
        assert torch.equal(s0[k], s1[k]), k
        assert torch.allclose(s0[k], getattr(single, k), rtol=1e-5), k
