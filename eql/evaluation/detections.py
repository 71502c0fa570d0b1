"""Detections as columns (numpy arrays), the evaluator's working form.

One LVIS result is a row: image id, json category id, box (XYWH, rounded to 2 decimals as LVIS
result files have them), score, and for masks an RLE (its ``counts`` as str, ``size`` [h, w]) with
its pixel area. Keeping rows as arrays instead of ~10^6 dicts makes gathering across processes,
capping and writing cheap; :meth:`Detections.to_dicts` gives the LVIS result dicts when an engine
needs them.

Values equal those of the dict form exactly: a float32 box coordinate ``v`` becomes
``round(float(v), 2)`` (``np.round`` agrees with Python's correctly rounded ``round`` here since
``100 * v`` is exact in float64 for a float32 ``v``), a float32 score ``float(s)``.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
import pycocotools.mask as mask_util
import torch
from faster_coco_eval.core import mask as fce_mask  # pycocotools' area() of > 255 RLEs overflows

from ..errors import UserError

MASKS_PER_ENCODE = 4


class ResultsError(UserError):
    """LVIS results that cannot be evaluated; the message names the result and field."""


@dataclass
class Detections:
    """Columns of ``n`` LVIS results. ``rle_counts`` / ``rle_size`` / ``area`` are None for
    box-only results."""

    image_id: np.ndarray  # (n,) int64
    category_id: np.ndarray  # (n,) int64, json ids
    bbox: np.ndarray  # (n, 4) float64, XYWH rounded to 2 decimals
    score: np.ndarray  # (n,) float64
    rle_counts: Optional[List[str]] = None  # n RLE strings
    rle_size: Optional[np.ndarray] = None  # (n, 2) int64: height, width
    area: Optional[np.ndarray] = None  # (n,) float64: mask pixels

    def __len__(self) -> int:
        return len(self.image_id)

    @property
    def has_masks(self) -> bool:
        return self.rle_counts is not None

    @classmethod
    def empty(cls, with_masks: bool = False) -> "Detections":
        masks = dict(rle_counts=[], rle_size=np.zeros((0, 2), np.int64), area=np.zeros(0))
        return cls(
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros((0, 4)),
            np.zeros(0),
            **(masks if with_masks else {}),
        )

    def take(self, index: np.ndarray) -> "Detections":
        """The rows ``index`` (integer array), in that order."""
        index = np.asarray(index, dtype=np.int64)
        if not self.has_masks:
            masks = {}
        else:
            counts = self.rle_counts
            masks = dict(
                rle_counts=[counts[i] for i in index.tolist()],
                rle_size=self.rle_size[index],
                area=self.area[index],
            )
        return Detections(
            self.image_id[index],
            self.category_id[index],
            self.bbox[index],
            self.score[index],
            **masks,
        )

    @staticmethod
    def concatenate(parts: Sequence["Detections"]) -> "Detections":
        """Rows of ``parts`` one after the other. Box-only and mask parts cannot be mixed."""
        parts = list(parts)
        if not parts:
            return Detections.empty()
        masked = {p.has_masks for p in parts if len(p)} or {parts[0].has_masks}
        if len(masked) > 1:
            raise ValueError("cannot concatenate detections with and without masks")
        with_masks = masked.pop()
        parts = [p for p in parts if len(p)] or [Detections.empty(with_masks)]
        masks = {}
        if with_masks:
            masks = dict(
                rle_counts=[c for p in parts for c in p.rle_counts],
                rle_size=np.concatenate([p.rle_size for p in parts]),
                area=np.concatenate([p.area for p in parts]),
            )
        return Detections(
            np.concatenate([p.image_id for p in parts]),
            np.concatenate([p.category_id for p in parts]),
            np.concatenate([p.bbox for p in parts]),
            np.concatenate([p.score for p in parts]),
            **masks,
        )

    @classmethod
    def from_instances(
        cls, instances, image_id: int, contiguous_to_category_id: np.ndarray
    ) -> "Detections":
        """The rows of one image's predicted ``Instances`` (on any device): boxes XYXY -> XYWH,
        contiguous classes -> json ids (``contiguous_to_category_id[c]``), masks (``pred_masks``,
        one image-sized mask per instance) -> RLE and pixel area.

        RLEs run down the columns, so each mask is transposed before pycocotools encodes it: on a
        GPU all at once before the move to the CPU (microseconds there), on the CPU a few masks at
        a time (the copies stay in cache; as fast as detectron2's one mask at a time)."""
        n = len(instances)
        boxes = instances.pred_boxes.tensor.detach().cpu().numpy()
        boxes = boxes.astype(np.float32, copy=True).reshape(n, 4)
        boxes[:, 2:] -= boxes[:, :2]  # in float32, as the result json has always been computed
        classes = instances.pred_classes.detach().cpu().numpy().astype(np.int64, copy=False)
        masks = {}
        if instances.has("pred_masks"):
            h, w = instances.image_size
            if n:
                rles = _encode_masks(instances.pred_masks.detach().reshape(n, h, w))
                area = _rle_areas(rles)
                counts = [r["counts"].decode("ascii") for r in rles]
            else:
                counts, area = [], np.zeros(0)
            size = np.empty((n, 2), np.int64)
            size[:] = (h, w)
            masks = dict(rle_counts=counts, rle_size=size, area=area)
        return cls(
            np.full(n, int(image_id), np.int64),
            np.asarray(contiguous_to_category_id, dtype=np.int64)[classes],
            np.round(boxes.astype(np.float64), 2),
            instances.scores.detach().cpu().numpy().astype(np.float64),
            **masks,
        )

    @classmethod
    def from_dicts(cls, results: Sequence[Dict]) -> "Detections":
        """Columns of LVIS result dicts (``segmentation`` RLEs with str or bytes counts; the mask
        area from the RLE). A result without a field, or with a value of the wrong kind (a string
        id, a 3-number box, a malformed RLE), is refused with :class:`ResultsError` naming it."""
        if not isinstance(results, (list, tuple)):
            raise ResultsError(
                f"results must be a list of result dicts, got {type(results).__name__}"
            )
        if not results:
            return cls.empty()
        bad = next((k for k, r in enumerate(results) if not isinstance(r, dict)), None)
        if bad is not None:
            raise ResultsError(f"results[{bad}] is not a result dict: {results[bad]!r:.80}")
        with_masks = "segmentation" in results[0]
        if any(("segmentation" in r) != with_masks for r in results):
            raise ResultsError("some results have a 'segmentation' and others do not")
        masks, rles = {}, None
        if with_masks:
            counts, sizes = _rle_columns([r["segmentation"] for r in results])
            rles = [
                {"size": s, "counts": c.encode("ascii")} for s, c in zip(sizes.tolist(), counts)
            ]
            # the mask's pixel count, as lvis-api computes it (a result's own 'area' is not read)
            area = _rle_areas(rles)
            masks = dict(rle_counts=counts, rle_size=sizes, area=area)
        if with_masks and not all("bbox" in r for r in results):
            # a mask without a box: the mask's bounding box, as lvis-api gives it
            boxes = np.asarray(fce_mask.toBbox(rles), np.float64).reshape(-1, 4)
            given = [k for k, r in enumerate(results) if "bbox" in r]
            if given:
                part = _column([results[k] for k in given], "bbox", "iuf", "[x, y, w, h]", (4,))
                boxes[given] = part
        else:
            boxes = _column(results, "bbox", "iuf", "[x, y, width, height]", shape=(4,))
        return cls(
            _column(results, "image_id", "iu", "an integer").astype(np.int64),
            _column(results, "category_id", "iu", "an integer").astype(np.int64),
            boxes.astype(np.float64).reshape(-1, 4),
            _column(results, "score", "iuf", "a number").astype(np.float64),
            **masks,
        )

    def to_dicts(self, with_area: bool = True) -> List[Dict]:
        """LVIS result dicts (image_id, category_id, bbox, score[, segmentation, area])."""
        columns = zip(self.image_id.tolist(), self.category_id.tolist(), self.bbox.tolist())
        rows = [
            {"image_id": i, "category_id": c, "bbox": b, "score": s}
            for (i, c, b), s in zip(columns, self.score.tolist())
        ]
        if self.has_masks:
            for r, counts, (h, w), area in zip(
                rows, self.rle_counts, self.rle_size.tolist(), self.area.tolist()
            ):
                r["segmentation"] = {"size": [h, w], "counts": counts}
                if with_area:
                    r["area"] = area
        return rows

    def cap_per_image(self, max_dets: int) -> "Detections":
        """The ``max_dets`` top-scoring rows of each image across classes (all if max_dets < 0),
        in their original order; ties broken as lvis-api does (the earlier row first)."""
        if max_dets < 0 or len(self) == 0:
            return self
        keep = _rank_within(self.image_id, self.score) < max_dets
        return self if keep.all() else self.take(np.flatnonzero(keep))

    def cap_per_class(self, max_dets: int) -> "Detections":
        """The ``max_dets`` top-scoring rows of each class over the whole set (AP^Fixed, Dave et
        al. 2021), in their original order; ties: the earlier row first."""
        if len(self) == 0:
            return self
        rank = _rank_within(self.category_id, self.score)
        keep = rank < max_dets
        return self if keep.all() else self.take(np.flatnonzero(keep))


def _column(results, field: str, kinds: str, what: str, shape=()) -> np.ndarray:
    """``field`` of every result as an array of numpy kind in ``kinds`` (integers "iu", numbers
    "iuf"); ResultsError naming the first result without it or with another kind of value."""
    values = [r.get(field, _MISSING) for r in results]
    try:
        array = np.asarray(values)
        ok = array.dtype.kind in kinds and array.shape[1:] == shape
    except ValueError:  # ragged boxes
        ok = False
    if ok:
        return array
    for k, v in enumerate(values):
        if v is _MISSING:
            raise ResultsError(f"results[{k}] has no field '{field}'")
        item = np.asarray(v) if isinstance(v, (list, tuple, int, float)) else None
        if item is None or item.dtype.kind not in kinds or item.shape != shape:
            raise ResultsError(f"results[{k}] field '{field}' must be {what}, got {v!r:.80}")
    raise ResultsError(f"results: field '{field}' must be {what} in every result")


_MISSING = object()


def _rle_columns(segs) -> tuple:
    """(counts as str, (n, 2) sizes) of compressed RLEs; ResultsError naming the first that is
    not one (a polygon, an uncompressed RLE, a size that is not [height, width])."""
    counts, sizes = [], []
    for k, seg in enumerate(segs):
        c = seg.get("counts") if isinstance(seg, dict) else None
        size = seg.get("size") if isinstance(seg, dict) else None
        if (
            not isinstance(c, (str, bytes))
            or not isinstance(size, (list, tuple))
            or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
        ):
            raise ResultsError(
                f"results[{k}] field 'segmentation' must be a compressed RLE "
                f"{{'size': [height, width], 'counts': str}}, got {seg!r:.80}"
            )
        counts.append(c.decode("ascii") if isinstance(c, bytes) else c)
        sizes.append(size)
    return counts, np.array(sizes, np.int64).reshape(-1, 2)


def _rle_areas(rles: List[Dict]) -> np.ndarray:
    """(n,) pixel counts of RLEs; ResultsError naming the first RLE that does not decode."""
    try:
        return fce_mask.area(rles).astype(np.float64)
    except ValueError:
        for k, rle in enumerate(rles):
            try:
                fce_mask.area([rle])
            except ValueError as e:
                raise ResultsError(
                    f"results[{k}] field 'segmentation' is not a valid RLE of its size "
                    f"{rle['size']} ({e})"
                ) from None
        raise


def _encode_masks(masks: torch.Tensor) -> List[Dict]:
    """pycocotools RLEs (bytes counts) of (n, h, w) masks, as ``mask_util.encode`` of each mask
    as uint8."""
    masks = masks.view(torch.uint8) if masks.dtype == torch.bool else masks.to(torch.uint8)
    if masks.device.type != "cpu":
        columns = masks.transpose(1, 2).contiguous().cpu().numpy()  # (n, w, h)
        return mask_util.encode(columns.T)  # (h, w, n), Fortran order
    rows, rles = masks.numpy(), []
    for start in range(0, len(rows), MASKS_PER_ENCODE):
        chunk = np.ascontiguousarray(rows[start : start + MASKS_PER_ENCODE].transpose(0, 2, 1))
        rles += mask_util.encode(chunk.T)
    return rles


def _rank_within(groups: np.ndarray, score: np.ndarray) -> np.ndarray:
    """(n,) rank of each row among the rows of its group by descending score (0: best); ties keep
    the rows' order (a stable sort, as lvis-api's)."""
    order = np.lexsort((-score, groups))
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(groups)]))
    rank = np.empty(len(groups), np.int64)
    rank[order] = np.arange(len(groups)) - group_start
    return rank


def as_detections(results) -> Detections:
    """``results`` as :class:`Detections` (LVIS result dicts are converted)."""
    return results if isinstance(results, Detections) else Detections.from_dicts(results)
