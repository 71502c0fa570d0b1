"""Top-1 accuracy overall and over many-shot (> 100 training images), medium-shot (20-100) and
few-shot (< 20) classes, as long-tailed classification papers report it."""

from typing import Dict, Sequence

import torch

SHOTS = (("many", 101, None), ("medium", 20, 100), ("few", 0, 19))


def shot_of(count: int) -> str:
    for name, low, high in SHOTS:
        if count >= low and (high is None or count <= high):
            return name
    raise ValueError(count)


def shot_accuracy(
    predictions: torch.Tensor, labels: torch.Tensor, train_counts: Sequence[int]
) -> Dict[str, float]:
    """{"all", "many", "medium", "few"}: top-1 accuracy in % over the test images of each group's
    classes (a group without test images: NaN); ``predictions`` (N,) class ids."""
    correct = (predictions == labels).float()
    out = {"all": 100.0 * correct.mean().item() if len(labels) else float("nan")}
    shots = torch.tensor([("many", "medium", "few").index(shot_of(n)) for n in train_counts])
    label_shot = shots[labels]
    for k, name in enumerate(("many", "medium", "few")):
        sel = label_shot == k
        out[name] = 100.0 * correct[sel].mean().item() if sel.any() else float("nan")
    return out
