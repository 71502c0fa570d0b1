"""The classes of the generated long-tailed set: each a (shape, colour, texture) triple, e.g.
"red_striped_circle", so that classes share appearance cues (a shape, a colour, a texture) with
others and compete, as LVIS's classes do, while each stays learnable from pixels.

8 shapes x 8 colours x 5 textures = 320 classes (the textures after the first three were added for
sets of up to 300 classes; the first 192 classes are unchanged)."""

import math
from dataclasses import dataclass
from typing import List, Tuple

SHAPES = ("circle", "square", "triangle", "diamond", "hexagon", "star", "cross", "pentagon")
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (40, 80, 230),
    "yellow": (235, 220, 40),
    "magenta": (220, 50, 210),
    "cyan": (40, 220, 220),
    "orange": (245, 140, 20),
    "white": (245, 245, 245),
}
TEXTURES = ("solid", "striped", "checkered", "dotted", "barred")
MAX_CLASSES = len(SHAPES) * len(COLOURS) * len(TEXTURES)


@dataclass(frozen=True)
class SyntheticClass:
    shape: str
    colour: str
    texture: str

    @property
    def name(self) -> str:
        return f"{self.colour}_{self.texture}_{self.shape}"


def class_catalogue(num_classes: int) -> List[SyntheticClass]:
    """The first ``num_classes`` (shape, colour, texture) triples, varying the shape fastest, then
    the colour, then the texture, so that small sets are told apart by shape and colour."""
    if not 1 <= num_classes <= MAX_CLASSES:
        raise ValueError(f"num_classes must be in [1, {MAX_CLASSES}], got {num_classes}")
    out = []
    for texture in TEXTURES:
        for colour in COLOURS:
            for shape in SHAPES:
                out.append(SyntheticClass(shape, colour, texture))
    return out[:num_classes]


def shape_polygon(shape: str, cx: float, cy: float, r: float) -> List[Tuple[float, float]]:
    """Vertices (x, y) of a shape of circumradius ``r`` centred on (cx, cy)."""

    def regular(n, phase):
        return [
            (
                cx + r * math.cos(phase + 2 * math.pi * k / n),
                cy + r * math.sin(phase + 2 * math.pi * k / n),
            )
            for k in range(n)
        ]

    if shape == "circle":
        return regular(24, 0.0)
    if shape == "square":
        return regular(4, math.pi / 4)
    if shape == "diamond":
        return [(cx, cy - r), (cx + 0.6 * r, cy), (cx, cy + r), (cx - 0.6 * r, cy)]
    if shape == "triangle":
        return regular(3, -math.pi / 2)
    if shape == "hexagon":
        return regular(6, 0.0)
    if shape == "pentagon":
        return regular(5, -math.pi / 2)
    if shape == "star":
        pts = []
        for k in range(10):
            rad = r if k % 2 == 0 else 0.45 * r
            a = -math.pi / 2 + math.pi * k / 5
            pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
        return pts
    if shape == "cross":
        w = 0.33 * r
        rel = [
            (-w, -r),
            (w, -r),
            (w, -w),
            (r, -w),
            (r, w),
            (w, w),
            (w, r),
            (-w, r),
            (-w, w),
            (-r, w),
            (-r, -w),
            (-w, -w),
        ]
        return [(cx + x, cy + y) for x, y in rel]
    raise ValueError(f"unknown shape {shape!r}")
