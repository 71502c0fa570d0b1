"""Drawing the synthetic set's images (:mod:`eql.data.synthetic.lvis`): textures, object placement
without overlap, rendering on a noisy background, polygon areas."""

from typing import List, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

from .classes import COLOURS, SyntheticClass, shape_polygon


def texture_layer(
    texture: str, colour: Tuple[int, int, int], size: int, period: int
) -> Image.Image:
    """An RGB image of the texture in ``colour``, covering the whole canvas."""
    img = Image.new("RGB", (size, size), colour)
    if texture == "solid":
        return img
    dark = tuple(int(c * 0.35) for c in colour)
    arr = np.array(img)
    yy, xx = np.mgrid[0:size, 0:size]
    if texture == "striped":
        off = (yy // period) % 2 == 1
    elif texture == "checkered":
        off = ((yy // period) + (xx // period)) % 2 == 1
    elif texture == "dotted":  # a grid of dark squares, a quarter of the area
        off = ((yy // period) % 2 == 0) & ((xx // period) % 2 == 0)
    elif texture == "barred":  # vertical stripes ("striped" are horizontal)
        off = (xx // period) % 2 == 1
    else:
        raise ValueError(f"unknown texture {texture!r}")
    arr[off] = dark
    return Image.fromarray(arr)


def place_objects(
    rng,
    num_objects: int,
    size: int,
    min_frac: float,
    max_frac: float,
    tries: int = 50,
    at_least: int = 0,
) -> List[Tuple[float, float, float]]:
    """Up to ``num_objects`` non-overlapping (cx, cy, r) discs inside the canvas; objects that do
    not fit are dropped, except that the first ``at_least`` are retried smaller until they fit."""
    placed: List[Tuple[float, float, float]] = []
    for k in range(num_objects):
        lo, hi = min_frac, max_frac
        while True:
            for _ in range(tries):
                r = rng.uniform(lo, hi) * size / 2
                cx, cy = rng.uniform(r + 1, size - r - 1, size=2)
                if all((cx - x) ** 2 + (cy - y) ** 2 > (r + q + 2) ** 2 for x, y, q in placed):
                    placed.append((float(cx), float(cy), float(r)))
                    break
            if len(placed) > k or k >= at_least or hi * size / 2 < 2:
                break
            lo, hi = lo * 0.7, hi * 0.7
    return placed


def render_image(
    rng,
    size: int,
    objects: Sequence[Tuple[SyntheticClass, Tuple[float, float, float]]],
    draw: bool = True,
):
    """Draws the objects; returns the image (None unless ``draw``) and, per object, its polygon
    (flat list). The random stream is consumed alike either way."""
    base = rng.integers(60, 140, size=3)
    noise = rng.integers(-12, 13, size=(size, size, 3))
    canvas = None
    if draw:
        canvas = Image.fromarray(np.clip(base[None, None, :] + noise, 0, 255).astype(np.uint8))
    period = max(2, size // 40)
    polygons = []
    for cls, (cx, cy, r) in objects:
        poly = shape_polygon(cls.shape, cx, cy, r)
        if draw:
            mask = Image.new("L", (size, size), 0)
            ImageDraw.Draw(mask).polygon(poly, fill=255)
            texture = texture_layer(cls.texture, COLOURS[cls.colour], size, period)
            canvas.paste(texture, (0, 0), mask)
        polygons.append([round(v, 2) for xy in poly for v in xy])
    return canvas, polygons


def polygon_area(flat: Sequence[float]) -> float:
    xs, ys = np.asarray(flat[0::2]), np.asarray(flat[1::2])
    return float(0.5 * abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))))
