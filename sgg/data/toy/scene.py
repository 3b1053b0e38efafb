"""Scene sampling for the toy dataset: which shapes go where, at which size and heading.

A scene is a list of :class:`ToyObject` in drawing order (later objects occlude earlier ones).
Besides uniformly placed objects, some are placed *relative* to an earlier object (resting on it,
inside it, touching it, overlapping it, near it, or aimed at it) so that the rarer geometric
predicates actually occur. Placements that would hide more than half of an earlier object are
re-drawn, so every annotated object stays visible.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import List, Optional, Tuple

import numpy as np
from PIL import Image, ImageDraw

from .vocabulary import COLOURS, POINTING_SHAPES, SHAPES, SIZES, TEXTURES, object_class_name

__all__ = ["ToyObject", "SceneConfig", "sample_scene", "shape_polygon", "rasterize"]


@dataclass
class SceneConfig:
    """Sizes and counts of a toy scene (pixel values are at a 256-px image and scale with it)."""

    image_size: int = 256
    min_objects: int = 3
    max_objects: int = 8
    min_object_px: float = 16.0
    max_object_px: float = 96.0
    max_hidden_fraction: float = 0.5  # an earlier object may lose at most this much of its area

    @property
    def scale(self) -> float:
        return self.image_size / 256.0


@dataclass
class ToyObject:
    """One rendered shape. ``polygon`` is in image pixels; ``mask`` is its full (unoccluded) area."""

    shape: str
    colour: str
    texture: str
    cx: float
    cy: float
    size: float  # diameter of the shape's circumscribed circle, pixels
    heading: float  # radians; direction the shape points at (arrow/triangle), rotation otherwise
    polygon: List[Tuple[float, float]] = field(default_factory=list)
    mask: Optional[np.ndarray] = None

    @property
    def class_name(self) -> str:
        return object_class_name(self.colour, self.shape)

    @cached_property
    def box(self) -> Tuple[float, float, float, float]:
        """Tight x1, y1, x2, y2 of the rasterised shape (inclusive pixel bounds, +1 on x2/y2)."""
        ys, xs = np.nonzero(self.mask)
        return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)

    @cached_property
    def area(self) -> int:
        return int(self.mask.sum())

    def size_name(self, scale: float) -> str:
        """small / medium / large by diameter at the 256-px scale."""
        d = self.size / scale
        return SIZES[0] if d < 32 else (SIZES[1] if d < 56 else SIZES[2])


def shape_polygon(shape: str, cx: float, cy: float, size: float, heading: float) -> List[Tuple[float, float]]:
    """Vertices of ``shape`` centred at (cx, cy) with circumscribed diameter ``size``."""
    r = size / 2.0
    if shape == "circle":
        local = [(math.cos(a), math.sin(a)) for a in np.linspace(0, 2 * math.pi, 36, endpoint=False)]
    elif shape == "square":
        local = [(-0.72, -0.72), (0.72, -0.72), (0.72, 0.72), (-0.72, 0.72)]
    elif shape == "diamond":
        local = [(0.0, -1.0), (0.7, 0.0), (0.0, 1.0), (-0.7, 0.0)]
    elif shape == "star":
        local = []
        for k in range(10):
            a = -math.pi / 2 + k * math.pi / 5
            rad = 1.0 if k % 2 == 0 else 0.45
            local.append((rad * math.cos(a), rad * math.sin(a)))
    elif shape == "triangle":  # isosceles, apex along +x before rotation
        local = [(1.0, 0.0), (-0.75, 0.65), (-0.75, -0.65)]
    elif shape == "arrow":
        local = [(1.0, 0.0), (0.15, 0.6), (0.15, 0.22), (-1.0, 0.22), (-1.0, -0.22), (0.15, -0.22), (0.15, -0.6)]
    else:
        raise ValueError(f"unknown toy shape {shape!r}; expected one of {SHAPES}")
    c, s = math.cos(heading), math.sin(heading)
    if shape not in POINTING_SHAPES:
        c, s = 1.0, 0.0  # only pointing shapes are rotated (keeps boxes tight on the others)
    return [(cx + r * (x * c - y * s), cy + r * (x * s + y * c)) for x, y in local]


def rasterize(polygon: List[Tuple[float, float]], width: int, height: int) -> np.ndarray:
    """Boolean (H, W) mask of a polygon (PIL scan conversion)."""
    img = Image.new("1", (width, height), 0)
    ImageDraw.Draw(img).polygon(polygon, fill=1)
    return np.asarray(img, dtype=bool)


def _make(rng: np.random.Generator, cfg: SceneConfig, width: int, height: int, size: float,
          cx: float, cy: float, heading: Optional[float] = None) -> ToyObject:
    shape = SHAPES[rng.integers(len(SHAPES))]
    colour = list(COLOURS)[rng.integers(len(COLOURS))]
    texture = TEXTURES[rng.integers(len(TEXTURES))]
    if heading is None:
        heading = float(rng.uniform(0, 2 * math.pi))
    r = size / 2.0
    cx = float(np.clip(cx, r + 1, width - r - 2))
    cy = float(np.clip(cy, r + 1, height - r - 2))
    obj = ToyObject(shape, colour, texture, cx, cy, float(size), heading)
    obj.polygon = shape_polygon(shape, cx, cy, size, heading)
    obj.mask = rasterize(obj.polygon, width, height)
    return obj


def _placement(rng: np.random.Generator, cfg: SceneConfig, width: int, height: int,
               objects: List[ToyObject]) -> ToyObject:
    """Draw one new object, placed uniformly or relative to an earlier one."""
    sc = cfg.scale
    lo, hi = cfg.min_object_px * sc, cfg.max_object_px * sc
    # log-uniform sizes: many small, some large objects
    size = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    mode = "uniform"
    if objects:
        mode = ["uniform", "uniform", "uniform", "on", "inside", "touch", "overlap", "near", "aim"][
            rng.integers(9)
        ]
    if mode == "uniform":
        return _make(rng, cfg, width, height, size, rng.uniform(0, width), rng.uniform(0, height))
    ref = objects[rng.integers(len(objects))]
    x1, y1, x2, y2 = ref.box
    if mode == "inside":
        if ref.size < 2.5 * lo or ref.shape not in ("circle", "square", "diamond"):
            mode = "on"
        else:
            size = float(rng.uniform(lo, 0.42 * ref.size))
            jitter = 0.12 * ref.size
            return _make(rng, cfg, width, height, size, ref.cx + rng.uniform(-jitter, jitter),
                         ref.cy + rng.uniform(-jitter, jitter))
    if mode == "on":  # rests on the top edge of ref
        return _make(rng, cfg, width, height, size, rng.uniform(x1, x2), y1 - 0.42 * size)
    if mode in ("touch", "overlap", "near"):
        angle = rng.uniform(0, 2 * math.pi)
        dist = ref.size / 2 + size / 2
        dist *= {"touch": 0.95, "overlap": 0.65, "near": 1.0}[mode]
        if mode == "near":
            dist += rng.uniform(4, 20) * sc
        return _make(rng, cfg, width, height, size, ref.cx + dist * math.cos(angle),
                     ref.cy + dist * math.sin(angle))
    # aim: a shape placed somewhere, heading towards ref (only meaningful for pointing shapes)
    obj_x, obj_y = rng.uniform(0, width), rng.uniform(0, height)
    heading = math.atan2(ref.cy - obj_y, ref.cx - obj_x) + rng.normal(0, 0.08)
    return _make(rng, cfg, width, height, size, obj_x, obj_y, heading=float(heading))


def sample_scene(rng: np.random.Generator, cfg: SceneConfig, width: int, height: int) -> List[ToyObject]:
    """Sample the annotated objects of one image in drawing order."""
    n = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    objects: List[ToyObject] = []
    visible: List[np.ndarray] = []
    for _ in range(n):
        for _attempt in range(8):
            obj = _placement(rng, cfg, width, height, objects)
            if obj.mask.sum() < 20:
                continue
            ok = all(
                (vis & ~obj.mask).sum() >= (1 - cfg.max_hidden_fraction) * prev.mask.sum()
                for prev, vis in zip(objects, visible)
            )
            if ok:
                visible = [vis & ~obj.mask for vis in visible]
                objects.append(obj)
                visible.append(obj.mask.copy())
                break
    return objects
