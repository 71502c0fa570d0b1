"""Long-tailed classification sets: CIFAR-10/100-LT built from a local CIFAR copy with the
standard exponential profile, or a generated long-tailed image set (no download needed)."""

import os
import pickle
from dataclasses import dataclass
from typing import List, Tuple

import numpy as np
import torch

from ..errors import UserError


def long_tailed_counts(num_classes: int, max_per_class: int, imbalance_ratio: float) -> List[int]:
    """n_i = floor(n_max IR^(-i / (C - 1))): CIFAR-100-LT at IR 200 keeps 9,502 images, 500 -> 2
    per class (the EQL paper's setting); CIFAR-10-LT at IR 100, 12,406."""
    if num_classes < 2 or max_per_class < 1 or imbalance_ratio < 1:
        raise UserError(
            f"long-tailed profile: need >= 2 classes, n_max >= 1 and IR >= 1, got "
            f"{num_classes}, {max_per_class}, {imbalance_ratio}"
        )
    return [
        int(max_per_class * imbalance_ratio ** (-i / (num_classes - 1))) for i in range(num_classes)
    ]


@dataclass
class LongTailedSplit:
    """Images (N, 3, H, W) float in [0, 1], labels (N,), and the training counts per class."""

    images: torch.Tensor
    labels: torch.Tensor
    train_counts: List[int]

    @property
    def num_classes(self) -> int:
        return len(self.train_counts)


def _subsample(labels: np.ndarray, counts: List[int], seed: int) -> np.ndarray:
    """Indices keeping counts[c] images of each class c (a seeded choice)."""
    rng = np.random.RandomState(seed)
    keep = []
    for c, n in enumerate(counts):
        idx = np.flatnonzero(labels == c)
        if len(idx) < n:
            raise UserError(f"class {c} has {len(idx)} images, the profile asks for {n}")
        keep.append(np.sort(rng.choice(idx, n, replace=False)))
    return np.concatenate(keep)


def _read_cifar(root: str, num_classes: int) -> Tuple[dict, dict]:
    """The python-format CIFAR files under ``root`` (cifar-10-batches-py / cifar-100-python):
    ({"data", "labels"} train, test)."""
    if num_classes == 10:
        folder = os.path.join(root, "cifar-10-batches-py")
        train_files = [f"data_batch_{i}" for i in range(1, 6)]
        test_files, key = ["test_batch"], b"labels"
    elif num_classes == 100:
        folder = os.path.join(root, "cifar-100-python")
        train_files, test_files, key = ["train"], ["test"], b"fine_labels"
    else:
        raise UserError(f"--dataset: CIFAR has 10 or 100 classes, not {num_classes}")

    def read(files):
        data, labels = [], []
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.isfile(path):
                raise UserError(f"{path}: file not found (a python-format CIFAR copy)")
            try:
                with open(path, "rb") as f:
                    batch = pickle.load(f, encoding="bytes")
                data.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                labels.append(np.asarray(batch[key], dtype=np.int64))
            except (pickle.UnpicklingError, KeyError, ValueError, EOFError) as e:
                raise UserError(f"{path}: not a python-format CIFAR batch ({e})") from None
        return {"data": np.concatenate(data), "labels": np.concatenate(labels)}

    return read(train_files), read(test_files)


def cifar_long_tailed(
    root: str, num_classes: int, imbalance_ratio: float, seed: int = 0
) -> Tuple[LongTailedSplit, LongTailedSplit]:
    """(train, test) of CIFAR-10/100-LT: the training set cut to the exponential profile (500 or
    5,000 images for the first class), the balanced test set kept whole."""
    train, test = _read_cifar(root, num_classes)
    n_max = int(np.bincount(train["labels"], minlength=num_classes).max())
    counts = long_tailed_counts(num_classes, n_max, imbalance_ratio)
    keep = _subsample(train["labels"], counts, seed)

    def split(d, idx, train_counts):
        images = torch.from_numpy(d["data"][idx]).float().div_(255.0)
        return LongTailedSplit(images, torch.from_numpy(d["labels"][idx]), train_counts)

    return split(train, keep, counts), split(test, np.arange(len(test["labels"])), counts)


def _class_image(rng: np.random.RandomState, c: int, num_classes: int, size: int) -> np.ndarray:
    """An image of class c: a shape ((c // 2) mod 3) of a hue (c / C) on a striped background of
    frequency ((c // 3) mod 4), jittered and noisy. Neighbouring classes often share the shape and
    the background and differ by a small hue step: classes compete, as in long-tailed data."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    hue = (c / num_classes + rng.uniform(-0.03, 0.03)) % 1.0
    colour = np.array([np.cos(2 * np.pi * (hue + k / 3)) * 0.4 + 0.5 for k in range(3)])
    cx, cy = rng.uniform(0.3, 0.7, size=2)
    r = rng.uniform(0.15, 0.3)
    kind = (c // 2) % 3
    if kind == 0:
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r**2
    elif kind == 1:
        mask = (np.abs(xx - cx) < r) & (np.abs(yy - cy) < r)
    else:
        mask = (yy - cy > -r) & (np.abs(xx - cx) < (yy - cy + r) / 2)
    freq = 2 + (c // 3) % 4
    phase = rng.uniform(0, 1)
    background = 0.4 + 0.15 * np.sin(2 * np.pi * (freq * (xx + yy * (c % 2)) + phase))
    img = np.repeat(background[None], 3, axis=0)
    img[:, mask] = colour[:, None]
    img += rng.normal(0, 0.15, size=img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


def generated_long_tailed(
    num_classes: int = 20,
    max_per_class: int = 200,
    imbalance_ratio: float = 100.0,
    test_per_class: int = 30,
    size: int = 32,
    seed: int = 0,
) -> Tuple[LongTailedSplit, LongTailedSplit]:
    """(train, test) of a generated long-tailed set with the exponential profile: class c's
    images share a shape, a hue and a background texture (jittered, noisy); the test set is
    balanced."""
    counts = long_tailed_counts(num_classes, max_per_class, imbalance_ratio)
    rng = np.random.RandomState(seed)

    def make(per_class):
        images, labels = [], []
        for c, n in enumerate(per_class):
            images += [_class_image(rng, c, num_classes, size) for _ in range(n)]
            labels += [c] * n
        return torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.int64)

    train = LongTailedSplit(*make(counts), counts)
    test = LongTailedSplit(*make([test_per_class] * num_classes), counts)
    return train, test
