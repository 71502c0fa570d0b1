"""Training and evaluating a CIFAR ResNet on a long-tailed split with one of eql's losses."""

import math
import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import torch
import torch.nn.functional as F

from .data import LongTailedSplit
from .losses import build_classification_loss
from .metrics import shot_accuracy
from .model import cifar_resnet


@dataclass
class Schedule:
    """SGD with momentum 0.9, linear warm-up then cosine decay, per iteration."""

    iterations: int
    batch_size: int = 128
    lr: float = 0.1
    weight_decay: float = 5e-4
    warmup: int = 100

    def lr_at(self, it: int) -> float:
        if it < self.warmup:
            return self.lr * (it + 1) / self.warmup
        progress = (it - self.warmup) / max(1, self.iterations - self.warmup)
        return 0.5 * self.lr * (1 + math.cos(math.pi * progress))


def augment(images: torch.Tensor, generator: torch.Generator, crop: bool) -> torch.Tensor:
    """Random horizontal flips and, with ``crop``, random 4-pixel-padded crops (CIFAR's)."""
    n, _, h, w = images.shape
    flip = torch.rand(n, generator=generator) < 0.5
    images = torch.where(flip[:, None, None, None], images.flip(3), images)
    if not crop:
        return images
    padded = F.pad(images, (4, 4, 4, 4), mode="reflect")
    dx = torch.randint(0, 9, (n,), generator=generator)
    dy = torch.randint(0, 9, (n,), generator=generator)
    return torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])


def train_classifier(
    loss_name: str,
    train: LongTailedSplit,
    test: LongTailedSplit,
    schedule: Schedule,
    depth: int = 8,
    seed: int = 0,
    crop: bool = True,
    device: str = "cpu",
    log: Optional[Callable[[str], None]] = None,
) -> Dict[str, float]:
    """Trains from scratch with the named loss and returns the test accuracies (%, overall and
    many / medium / few-shot) and the training time in seconds."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = cifar_resnet(depth, train.num_classes).to(device)
    loss_fn = build_classification_loss(loss_name, train.train_counts).to(device)
    if loss_fn.sigmoid:  # every class starts at probability 1 / C, as sigmoid classifiers do
        prior = 1.0 / train.num_classes
        torch.nn.init.constant_(model.fc.bias, -math.log((1 - prior) / prior))
    optimizer = torch.optim.SGD(
        model.parameters(), lr=schedule.lr, momentum=0.9, weight_decay=schedule.weight_decay
    )
    n = len(train.labels)
    order, cursor = torch.randperm(n, generator=generator), 0
    start = time.perf_counter()
    model.train()
    for it in range(schedule.iterations):
        if cursor + schedule.batch_size > n:
            order, cursor = torch.randperm(n, generator=generator), 0
        idx = order[cursor : cursor + schedule.batch_size]
        cursor += schedule.batch_size
        x = augment(train.images[idx], generator, crop).to(device)
        loss = loss_fn(model(x), train.labels[idx].to(device))
        for group in optimizer.param_groups:
            group["lr"] = schedule.lr_at(it)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if log and (it + 1) % max(1, schedule.iterations // 5) == 0:
            log(f"[{loss_name}] iteration {it + 1}/{schedule.iterations}: loss {loss.item():.4f}")
    seconds = time.perf_counter() - start
    predictions = predict(model, test.images, device)
    return {**shot_accuracy(predictions, test.labels, train.train_counts), "seconds": seconds}


@torch.no_grad()
def predict(model, images: torch.Tensor, device: str, batch_size: int = 500) -> torch.Tensor:
    """Top-1 class of each image (argmax of the logits: the same for sigmoid and softmax
    scores)."""
    model.eval()
    out = [
        model(images[i : i + batch_size].to(device)).argmax(1).cpu()
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(out)
