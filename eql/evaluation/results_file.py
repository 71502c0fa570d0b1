"""The LVIS results file (``lvis_instances_results.json``) written from :class:`Detections`.

The text is exactly what ``json.dump`` writes for the list of result dicts (LVIS challenge
format: image_id, category_id, bbox, score[, segmentation]; no area), produced row by row with one
format string per chunk instead of json's encoder walking ~10^6 dicts (about 3x faster, no dicts
built). Floats are written with ``repr``, as json does; a non-finite value is written as json
writes it (NaN, Infinity).
"""

import math
from typing import Iterator

import numpy as np

from ..utils.io import atomic_write
from .detections import Detections

CHUNK_ROWS = 65536
_BOX_ROW = '{"image_id": %d, "category_id": %d, "bbox": [%r, %r, %r, %r], "score": %r}'
_MASK_ROW = (
    '{"image_id": %d, "category_id": %d, "bbox": [%r, %r, %r, %r], "score": %r, '
    '"segmentation": {"size": [%d, %d], "counts": "%s"}}'
)


def _json_float(v: float):
    """``v`` as json.dump writes it (NaN / Infinity / -Infinity for non-finite values), wrapped so
    that ``%r`` prints it."""
    if math.isfinite(v):
        return v
    return _Raw("NaN" if v != v else ("Infinity" if v > 0 else "-Infinity"))


class _Raw(str):
    def __repr__(self) -> str:
        return str(self)


def _rows(dets: Detections, start: int, stop: int):
    columns = [
        dets.image_id[start:stop].tolist(),
        dets.category_id[start:stop].tolist(),
        *dets.bbox[start:stop].T.tolist(),
        dets.score[start:stop].tolist(),
    ]
    finite = np.isfinite(dets.bbox[start:stop]).all() and np.isfinite(dets.score[start:stop]).all()
    if not finite:
        columns[2:] = [[_json_float(v) for v in col] for col in columns[2:]]
    if not dets.has_masks:
        return _BOX_ROW, zip(*columns)
    size = dets.rle_size[start:stop].T.tolist()
    # RLE strings use the characters 48..111, of which only the backslash needs escaping
    counts = [c.replace("\\", "\\\\") for c in dets.rle_counts[start:stop]]
    return _MASK_ROW, zip(*columns, *size, counts)


def lvis_results_chunks(dets: Detections, chunk_rows: int = CHUNK_ROWS) -> Iterator[str]:
    """The results file's text in pieces (the list's opening bracket first, its closing one
    last)."""
    yield "["
    for start in range(0, len(dets), chunk_rows):
        fmt, rows = _rows(dets, start, min(start + chunk_rows, len(dets)))
        text = ", ".join([fmt % row for row in rows])
        yield text if start == 0 else ", " + text
    yield "]"


def write_lvis_results(path: str, dets: Detections) -> None:
    """Writes ``dets`` as an LVIS results json to ``path`` atomically."""
    with atomic_write(path) as f:
        for piece in lvis_results_chunks(dets):
            f.write(piece)
