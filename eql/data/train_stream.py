"""A training data stream that a resumed run continues exactly.

detectron2's train loader restarts its sampler, its aspect-ratio buckets and its augmentation RNGs
when training resumes, so N iterations in one go and N/2 + ``--resume`` + N/2 see different data.
Here every random choice is a function of where it happens, not of history:

* the sampler (detectron2's, seeded by the stream's seed) gives the dataset index of every
  position p = 0, 1, 2, ... of this process's stream;
* the item at position p is mapped (augmented) with the RNGs (python, numpy, torch CPU) seeded by
  (seed, rank, p), and the caller's RNG states are put back afterwards;
* batches are grouped by aspect ratio from the records' width and height, as detectron2 does;
* :class:`StepSeeder` seeds the global RNGs from (seed, rank, iteration) before every step, for
  the model's own random choices (proposal sampling).

So batch b is a function of (seed, rank, b): a resumed run rebuilds the stream, replays the
sampler and the grouping for the ``start_batch`` batches already trained (indices and image sizes
only, nothing is loaded), maps the items that were waiting in the buckets, and goes on. The seed
is saved in the checkpoint (the trainer's state), the start batch is the iteration to resume at.
"""

import itertools
import logging
import random
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from detectron2.engine import HookBase
from detectron2.utils import comm
from torch.utils import data as torchdata

from ..errors import UserError

logger = logging.getLogger(__name__)


@dataclass
class StreamPosition:
    """What a training stream is started from: its seed and the number of batches already
    trained (the iteration a resumed run starts at). Shared by the loader and the trainer."""

    seed: int
    start_batch: int = 0


def derived_seed(*parts: int) -> int:
    """A 32-bit seed from integers (independent streams for different parts)."""
    return int(np.random.SeedSequence([int(p) % (2**63) for p in parts]).generate_state(1)[0])


class _SeededRNG:
    """Seeds python's, numpy's and torch's CPU RNGs, and puts the previous states back on exit."""

    def __init__(self, seed: int):
        self.seed = seed

    def __enter__(self):
        self._states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
        random.seed(self.seed)
        np.random.seed(self.seed)
        torch.default_generator.manual_seed(self.seed)

    def __exit__(self, *exc):
        py, nps, th = self._states
        random.setstate(py)
        np.random.set_state(nps)
        torch.set_rng_state(th)
        return False


def sampler_positions(sampler_factory: Callable, start: int) -> Iterator[Tuple[int, int]]:
    """(position, dataset index) of this process's index stream from ``start`` on."""
    indices = itertools.islice(iter(sampler_factory()), start, None)
    return zip(itertools.count(start), indices)


def replay_grouping(
    sampler_factory: Callable,
    aspect_groups: Sequence[int],
    batch_size: int,
    num_batches: int,
) -> Tuple[int, List[List[Tuple[int, int]]]]:
    """Replays the first ``num_batches`` batches at the index level (``aspect_groups[idx]``: the
    bucket of dataset item idx): returns the next position of the stream and the (position,
    index) pairs waiting in each bucket."""
    buckets: List[List[Tuple[int, int]]] = [[], []]
    if num_batches == 0:
        return 0, buckets
    emitted = 0
    for p, idx in sampler_positions(sampler_factory, 0):
        bucket = buckets[aspect_groups[idx]]
        bucket.append((p, idx))
        if len(bucket) == batch_size:
            del bucket[:]
            emitted += 1
            if emitted == num_batches:
                return p + 1, buckets
    raise RuntimeError("the sampler ended")  # detectron2's training samplers are infinite


class _MappedPositions(torchdata.IterableDataset):
    """Mapped items of the stream from a position on, in position order; with W workers, worker w
    maps the positions p = w (mod W) (the DataLoader takes them round robin, so in order)."""

    def __init__(self, dataset, mapper, sampler_factory, start: int, seed: int, rank: int):
        self.dataset, self.mapper, self.sampler_factory = dataset, mapper, sampler_factory
        self.start, self.seed, self.rank = start, seed, rank

    def __iter__(self):
        info = torchdata.get_worker_info()
        num_workers, worker = (info.num_workers, info.id) if info else (1, 0)
        for p, idx in sampler_positions(self.sampler_factory, self.start):
            if (p - self.start) % num_workers == worker:
                yield p, idx, map_item(self.dataset, self.mapper, idx, self.seed, self.rank, p)


def map_item(dataset, mapper, idx: int, seed: int, rank: int, position: int) -> Dict:
    """The item at ``position`` (dataset index ``idx``), mapped with RNGs seeded from it. A mapper
    that drops the item (returns None) is not supported by a resumable stream."""
    with _SeededRNG(derived_seed(seed, rank, position)):
        item = mapper(dataset[idx])
    if item is None:
        raise ValueError(
            f"the mapper dropped dataset item {idx}; eql's resumable train stream needs a mapper "
            "that maps every item"
        )
    return item


def _identity(x):
    return x


class ReproducibleTrainLoader:
    """Iterable of batches (lists of mapped dicts), like detectron2's train loader, whose batch b
    depends only on (position.seed, rank, b). Started at ``position.start_batch`` when iterated.

    Args:
        dataset: indexable records (detectron2's DatasetFromList).
        mapper: record -> training input (detectron2's DatasetMapper).
        sampler_factory: seed -> a detectron2 training sampler (this process's shard).
        aspect_groups: per record, its aspect-ratio bucket (0: wider than high, 1: not); all 0
            without aspect-ratio grouping.
    """

    def __init__(
        self,
        dataset,
        mapper,
        sampler_factory: Callable,
        aspect_groups: Sequence[int],
        batch_size: int,
        position: StreamPosition,
        num_workers: int = 0,
    ):
        self.dataset, self.mapper, self.sampler_factory = dataset, mapper, sampler_factory
        self.aspect_groups = aspect_groups
        self.batch_size, self.position, self.num_workers = batch_size, position, num_workers
        self.rank = comm.get_rank()

    def __iter__(self):
        seed, start_batch = self.position.seed, self.position.start_batch

        def sampler_factory():
            return self.sampler_factory(seed)

        start, waiting = replay_grouping(
            sampler_factory, self.aspect_groups, self.batch_size, start_batch
        )
        if start_batch:
            logger.info(f"Train stream resumes at batch {start_batch} (stream position {start})")
        buckets = [
            [map_item(self.dataset, self.mapper, idx, seed, self.rank, p) for p, idx in bucket]
            for bucket in waiting
        ]
        stream = _MappedPositions(
            self.dataset, self.mapper, sampler_factory, start, seed, self.rank
        )
        if self.num_workers > 0:
            stream = torchdata.DataLoader(
                stream, num_workers=self.num_workers, batch_size=None, collate_fn=_identity
            )
        for _, idx, item in stream:
            bucket = buckets[self.aspect_groups[idx]]
            bucket.append(item)
            if len(bucket) == self.batch_size:
                batch = bucket[:]
                del bucket[:]
                yield batch


SAMPLERS = ("TrainingSampler", "RepeatFactorTrainingSampler", "RandomSubsetTrainingSampler")


def build_reproducible_train_loader(cfg, position: StreamPosition, mapper=None):
    """detectron2's train loader settings (DATASETS.TRAIN, DATALOADER.*, SOLVER.IMS_PER_BATCH)
    as a :class:`ReproducibleTrainLoader`; the settings were checked by
    :func:`eql.engine.validation.check_training_setup`."""
    from detectron2.data import DatasetMapper, get_detection_dataset_dicts

    dicts = get_detection_dataset_dicts(
        cfg.DATASETS.TRAIN,
        filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS,
        min_keypoints=(
            cfg.MODEL.ROI_KEYPOINT_HEAD.MIN_KEYPOINTS_PER_IMAGE if cfg.MODEL.KEYPOINT_ON else 0
        ),
        proposal_files=cfg.DATASETS.PROPOSAL_FILES_TRAIN if cfg.MODEL.LOAD_PROPOSALS else None,
    )
    return reproducible_train_loader(
        dicts,
        mapper if mapper is not None else DatasetMapper(cfg, True),
        cfg.SOLVER.IMS_PER_BATCH,
        position,
        sampler=cfg.DATALOADER.SAMPLER_TRAIN,
        repeat_threshold=cfg.DATALOADER.REPEAT_THRESHOLD,
        repeat_sqrt=cfg.DATALOADER.REPEAT_SQRT,
        random_subset_ratio=cfg.DATALOADER.get("RANDOM_SUBSET_RATIO"),  # newer detectron2 only
        aspect_ratio_grouping=cfg.DATALOADER.ASPECT_RATIO_GROUPING,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
    )


def reproducible_train_loader(
    dataset: List[Dict],
    mapper,
    total_batch_size: int,
    position: Optional[StreamPosition] = None,
    *,
    sampler: str = "TrainingSampler",
    repeat_threshold: float = 0.001,
    repeat_sqrt: bool = True,
    random_subset_ratio: Optional[float] = None,
    aspect_ratio_grouping: bool = True,
    num_workers: int = 0,
) -> ReproducibleTrainLoader:
    """The arguments of detectron2's ``build_detection_train_loader`` (``dataset``: the records,
    ``mapper``, the batch over all processes), the sampler by its name (one of SAMPLERS, with its
    settings: DATALOADER.REPEAT_THRESHOLD, ...) and the ``position`` of the stream (its seed and
    start batch, kept by the trainer, which sets the loader's ``position``; None: seed 0, batch
    0), as a :class:`ReproducibleTrainLoader`. This process's batch is ``total_batch_size`` /
    processes."""
    from detectron2.data import DatasetFromList
    from detectron2.data.samplers import (
        RandomSubsetTrainingSampler,
        RepeatFactorTrainingSampler,
        TrainingSampler,
    )

    if sampler not in SAMPLERS:
        raise UserError(f"sampler: one of {SAMPLERS}, got {sampler!r}")
    if sampler == "RandomSubsetTrainingSampler" and random_subset_ratio is None:
        raise UserError("random_subset_ratio: needed by the RandomSubsetTrainingSampler")
    world = comm.get_world_size()
    if total_batch_size < 1 or total_batch_size % world:
        raise UserError(
            f"total_batch_size: {total_batch_size} images per step cannot be split over {world} "
            "processes"
        )
    repeat_factors: Optional[torch.Tensor] = None
    if sampler == "RepeatFactorTrainingSampler":
        repeat_factors = RepeatFactorTrainingSampler.repeat_factors_from_category_frequency(
            dataset, repeat_threshold, sqrt=repeat_sqrt
        )
    size = len(dataset)
    aspect_groups = [int(aspect_ratio_grouping and d["width"] <= d["height"]) for d in dataset]

    def sampler_factory(seed: int):
        if sampler == "TrainingSampler":
            return TrainingSampler(size, seed=seed)
        if sampler == "RepeatFactorTrainingSampler":
            return RepeatFactorTrainingSampler(repeat_factors, seed=seed)
        return RandomSubsetTrainingSampler(
            size, random_subset_ratio, seed_shuffle=seed, seed_subset=derived_seed(seed, 1)
        )

    return ReproducibleTrainLoader(
        DatasetFromList(dataset, copy=False),
        mapper,
        sampler_factory,
        aspect_groups,
        total_batch_size // world,
        position if position is not None else StreamPosition(seed=0),
        num_workers=num_workers,
    )


class StepSeeder(HookBase):
    """Before every step, seeds python's, numpy's and torch's RNGs (CPU and CUDA) from (seed,
    rank, iteration), so that the model's random choices of a step do not depend on the steps
    before it; saves the seed with the trainer's state."""

    def __init__(self, position: StreamPosition):
        self.position = position

    def before_step(self):
        seed = derived_seed(self.position.seed, comm.get_rank(), self.trainer.iter, 2)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)  # CPU and every CUDA device

    def state_dict(self):
        return {"seed": self.position.seed}

    def load_state_dict(self, state):
        self.position.seed = int(state["seed"])
