"""Long-tailed classification: the profile, CIFAR-LT from a local copy, the generated set, the
shot metrics, the classification variants of the losses and tools/train_classifier.py."""

import json
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import train_classifier  # noqa: E402

from eql.classification import (
    cifar_long_tailed,
    generated_long_tailed,
    long_tailed_counts,
    shot_accuracy,
)
from eql.classification.losses import CLASSIFICATION_LOSSES, build_classification_loss
from eql.errors import UserError
from eql.losses import EQLv2, SeesawLoss


def test_the_exponential_profile_matches_the_papers_sets():
    counts = long_tailed_counts(100, 500, 200)
    assert sum(counts) == 9502 and counts[0] == 500 and counts[-1] == 2  # CIFAR-100-LT, IR 200
    assert sum(long_tailed_counts(100, 500, 100)) == 10847
    assert sum(long_tailed_counts(10, 5000, 100)) == 12406  # CIFAR-10-LT, IR 100
    assert all(a >= b for a, b in zip(counts, counts[1:]))
    with pytest.raises(UserError):
        long_tailed_counts(1, 10, 2)


def _fake_cifar10(root, per_class=30):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.RandomState(0)
    for name, n in [(f"data_batch_{i}", per_class * 2) for i in range(1, 6)] + [("test_batch", 40)]:
        labels = [k % 10 for k in range(n)]
        data = rng.randint(0, 256, size=(n, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels}, f)


def test_cifar_long_tailed_from_a_local_copy(tmp_path):
    _fake_cifar10(tmp_path)  # 10 classes x 30 training images
    train, test = cifar_long_tailed(str(tmp_path), 10, imbalance_ratio=10, seed=0)
    assert train.train_counts == long_tailed_counts(10, 30, 10)
    assert np.bincount(train.labels.numpy(), minlength=10).tolist() == train.train_counts
    assert train.images.shape == (sum(train.train_counts), 3, 32, 32)
    assert 0 <= train.images.min() and train.images.max() <= 1
    assert len(test.labels) == 40  # the balanced test set, whole
    with pytest.raises(UserError, match="cifar-100-python"):
        cifar_long_tailed(str(tmp_path), 100, 10)


def test_generated_set_follows_the_profile_and_is_reproducible():
    train, test = generated_long_tailed(6, 50, 10, test_per_class=5, size=16, seed=1)
    assert train.train_counts == long_tailed_counts(6, 50, 10)
    assert np.bincount(train.labels.numpy()).tolist() == train.train_counts
    assert np.bincount(test.labels.numpy()).tolist() == [5] * 6
    again, _ = generated_long_tailed(6, 50, 10, test_per_class=5, size=16, seed=1)
    assert torch.equal(train.images, again.images)


def test_shot_accuracy_by_hand():
    counts = [150, 150, 50, 10]  # many, many, medium, few
    labels = torch.tensor([0, 1, 2, 2, 3, 3, 3, 3])
    predictions = torch.tensor([0, 0, 2, 1, 3, 0, 0, 0])
    acc = shot_accuracy(predictions, labels, counts)
    assert acc == {"all": 37.5, "many": 50.0, "medium": 50.0, "few": 25.0}


def test_classification_variants_of_the_detection_losses():
    torch.manual_seed(0)
    z = torch.randn(12, 5, dtype=torch.float64)
    gt = torch.randint(0, 5, (12,))
    # Seesaw without objectness: the class term only; with no history it is close to CE
    seesaw = SeesawLoss(5, p=0.0, q=0.0, objectness=False)
    assert seesaw(z, gt).item() == pytest.approx(F.cross_entropy(z, gt).item(), rel=1e-12)
    assert SeesawLoss(5, objectness=False).num_logits == 5
    # EQLv2 without objectness: C logits, the first step is plain BCE
    eqlv2 = EQLv2(5, objectness=False)
    y = F.one_hot(gt, 5).double()
    bce = F.binary_cross_entropy_with_logits(z, y, reduction="sum") / 12
    assert eqlv2.num_logits == 5 and eqlv2(z, gt).item() == pytest.approx(bce.item(), rel=1e-12)
    assert (eqlv2.pos_grad > 0).any()
    for name in CLASSIFICATION_LOSSES:
        loss = build_classification_loss(name, [100, 50, 20, 5, 2])
        assert loss.num_logits == 5 and torch.isfinite(loss(z.float(), gt))


def test_train_classifier_tool_prints_the_table(tmp_path, capsys):
    out = tmp_path / "results.json"
    argv = ["--num-classes", "4", "--max-per-class", "40", "--imbalance-ratio", "10"]
    argv += ["--losses", "ce", "softmax_eql", "--iterations", "12", "--batch-size", "16"]
    assert train_classifier.main([*argv, "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| loss | top-1 | many | medium | few |" in printed and "| softmax_eql |" in printed
    results = json.loads(out.read_text())
    assert set(results) == {"ce", "softmax_eql"}
    assert set(results["ce"]) == {"all", "many", "medium", "few", "seconds"}
    assert 0 <= results["ce"]["all"] <= 100


def test_train_classifier_tool_errors(tmp_path, capsys):
    assert train_classifier.main(["--losses", "nope"]) == 2
    assert "--losses" in capsys.readouterr().err
    code = train_classifier.main(["--dataset", "cifar10", "--cifar-root", str(tmp_path)])
    assert code == 2 and "cifar-10-batches-py" in capsys.readouterr().err
