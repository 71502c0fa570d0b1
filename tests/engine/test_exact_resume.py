"""Exact resume: N iterations in one go equal N/2, stop, --resume, N/2 more, bit for bit (weights,
optimizer, scheduler, loss state, trainer state); the data stream that makes it so."""

import os

import numpy as np
import pytest
import torch
from common import REPO, run_train_net, synthetic_args

from eql.data.train_stream import ReproducibleTrainLoader, StreamPosition, replay_grouping

QUICK = "configs/quick_schedules"
CONFIGS = {
    "eqlv2_mask_rcnn": f"{QUICK}/synthetic_eqlv2_mask_rcnn_R_18_FPN_instant_test.yaml",
    "efl_retinanet": f"{QUICK}/synthetic_efl_retinanet_R_18_FPN_instant_test.yaml",
}


def differences(a, b, path=""):
    """Paths at which two checkpoint structures differ (tensors compared bit for bit)."""
    if isinstance(a, torch.Tensor):
        return [] if isinstance(b, torch.Tensor) and torch.equal(a, b) else [path]
    if isinstance(a, dict):
        if set(a) != set(b):
            return [f"{path} keys {sorted(set(a) ^ set(b))}"]
        return [d for k in a for d in differences(a[k], b[k], f"{path}/{k}")]
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return [f"{path} length"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_resumed_training_equals_training_in_one_go(tiny_synthetic, tmp_path, name):
    config = os.path.join(REPO, CONFIGS[name])
    opts = ["SOLVER.MAX_ITER", "6", "SOLVER.CHECKPOINT_PERIOD", "3", "DATASETS.TEST", "()"]
    opts += ["SEED", "11", "DATALOADER.SAMPLER_TRAIN", "RepeatFactorTrainingSampler"]
    opts += ["DATALOADER.REPEAT_THRESHOLD", "0.3"]
    one_go = tmp_path / "one_go"
    run_train_net(*synthetic_args(tiny_synthetic, one_go, config), *opts)

    # the same run, "killed" after the checkpoint of iteration 2, then resumed
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    (resumed / "model_0000002.pth").write_bytes((one_go / "model_0000002.pth").read_bytes())
    (resumed / "last_checkpoint").write_text("model_0000002.pth")
    log = run_train_net("--resume", *synthetic_args(tiny_synthetic, resumed, config), *opts)
    assert "Starting training from iteration 3" in log
    assert "Train stream resumes at batch 3" in log

    a = torch.load(one_go / "model_final.pth", map_location="cpu", weights_only=False)
    b = torch.load(resumed / "model_final.pth", map_location="cpu", weights_only=False)
    # the whole checkpoint: weights and buffers (loss state included), the optimizer state,
    # the LR scheduler's and the stream's seed (hook states), the iteration
    assert a["trainer"]["_trainer"]["optimizer"]["state"]
    assert {"LRScheduler", "StepSeeder"} <= set(a["trainer"]["hooks"])
    assert differences(a, b) == []
    assert any(k.endswith("cls_loss.pos_grad") for k in a["model"])  # the loss state is compared
    # and training moved the weights after the resumed checkpoint
    mid = torch.load(resumed / "model_0000002.pth", map_location="cpu", weights_only=False)
    assert differences(mid["model"], b["model"])


class _Records:
    """Records of varying aspect ratio (w > h for every third one)."""

    def __init__(self, n):
        self.records = [
            {"image_id": i, "width": 30 if i % 3 == 0 else 20, "height": 25} for i in range(n)
        ]

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        return dict(self.records[i])


def _random_mapper(record):
    """An 'augmentation' that draws from every global RNG."""
    return {**record, "np": float(np.random.rand()), "torch": float(torch.rand(1))}


def _loader(records, start_batch, num_workers, seed=3, batch_size=4):
    from detectron2.data.samplers import TrainingSampler

    groups = [int(r["width"] <= r["height"]) for r in records.records]
    return ReproducibleTrainLoader(
        records,
        _random_mapper,
        lambda s: TrainingSampler(len(records), seed=s),
        groups,
        batch_size,
        StreamPosition(seed=seed, start_batch=start_batch),
        num_workers=num_workers,
    )


def _take(loader, n):
    out = []
    for batch in loader:
        out.append(batch)
        if len(out) == n:
            return out


@pytest.mark.parametrize("num_workers", [0, 2])
def test_the_stream_restarted_at_batch_k_continues_the_stream(num_workers):
    records = _Records(23)
    full = _take(_loader(records, 0, num_workers), 12)
    assert all(len({r["width"] > r["height"] for r in b}) == 1 for b in full)  # grouped
    assert len({r["image_id"] for b in full for r in b}) == 23  # epochs go over every record
    for k in (1, 5, 9):
        assert _take(_loader(records, k, num_workers), 12 - k) == full[k:]
    # the same stream whether mapped in the main process or in workers
    if num_workers:
        assert full == _take(_loader(records, 0, 0), 12)
    assert _take(_loader(records, 0, 0, seed=4), 12) != full


def test_iterating_the_stream_leaves_the_global_rngs_alone():
    torch.manual_seed(0)
    np.random.seed(0)
    expected = (float(torch.rand(1)), float(np.random.rand()))
    torch.manual_seed(0)
    np.random.seed(0)
    _take(_loader(_Records(10), 2, 0), 3)
    assert (float(torch.rand(1)), float(np.random.rand())) == expected


def test_replay_gives_the_next_position_and_the_waiting_items():
    groups = [0, 1, 0, 1, 1, 0, 0, 1]

    def sampler():
        return iter([0, 1, 2, 3, 4, 5, 6, 7] * 10)

    # batch size 2: [0, 2] at p=2 (bucket 0), [1, 3] at p=3 (bucket 1), [5, 6] at p=6 (bucket 0)
    # while 4 waits in bucket 1
    assert replay_grouping(sampler, groups, 2, 0) == (0, [[], []])
    assert replay_grouping(sampler, groups, 2, 1) == (3, [[], [(1, 1)]])
    assert replay_grouping(sampler, groups, 2, 2) == (4, [[], []])
    assert replay_grouping(sampler, groups, 2, 3) == (7, [[], [(4, 4)]])
