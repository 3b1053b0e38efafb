"""Which predicates are TRUE for an ordered pair of toy objects, from the rendered geometry.

Every rule reads only what is visible in the image (shape masks, positions, colours, the heading of
arrows and triangles, and which shape is drawn on top), so a model that sees the pixels can recover
the true set; the annotated predicate is one of them (see :mod:`sgg.data.toy.annotate`).

Rules for subject ``s`` and object ``o`` (areas are full shape areas in pixels, L = longer image side):

* position: left of / right of / above / below by the dominant axis of the centre offset;
* distance: near = not in contact and box gap <= 0.12 L; far from = box gap >= 0.4 L;
* contact: overlapping = shared area >= 3% of the smaller shape and neither inside the other;
  inside = >= 90% of s lies in o and area(s) <= 0.5 area(o); touching = shared area < 3% of the
  smaller shape but the shapes come within 2 px; on = in contact, s's bottom edge in the top 35% of
  o, s's centre above o's and horizontally within o's box; under = o on s;
* depth: in front of = shapes share area and s is drawn later (occludes o); behind = the converse;
* comparison: bigger than = area(s) >= 2 area(o); smaller than = area(s) <= area(o) / 2;
  same colour as / same shape as;
* action: pointing at = s is an arrow/triangle whose heading ray from its centre crosses o's box
  within 0.6 L.
"""
from __future__ import annotations

import math
from typing import Dict, List, Set, Tuple

from scipy.ndimage import binary_dilation

from .scene import ToyObject
from .vocabulary import POINTING_SHAPES

__all__ = ["true_predicates", "pair_geometry"]

_CONTACT_FRACTION = 0.03
_TOUCH_PX = 2


def _box_gap(a: Tuple[float, ...], b: Tuple[float, ...]) -> float:
    dx = max(0.0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0.0, max(a[1], b[1]) - min(a[3], b[3]))
    return math.hypot(dx, dy)


def _ray_hits_box(ox: float, oy: float, heading: float, box: Tuple[float, ...], max_t: float) -> bool:
    dx, dy = math.cos(heading), math.sin(heading)
    t0, t1 = 0.0, max_t
    for o, d, lo, hi in ((ox, dx, box[0], box[2]), (oy, dy, box[1], box[3])):
        if abs(d) < 1e-9:
            if o < lo or o > hi:
                return False
            continue
        ta, tb = (lo - o) / d, (hi - o) / d
        t0, t1 = max(t0, min(ta, tb)), min(t1, max(ta, tb))
        if t0 > t1:
            return False
    return True


def pair_geometry(a: ToyObject, b: ToyObject) -> Dict[str, float]:
    """Shared area and contact of two shapes (computed on the crop around both boxes)."""
    ba, bb = a.box, b.box
    gap = _box_gap(ba, bb)
    inter, contact = 0, False
    if gap <= _TOUCH_PX + 1:
        x1 = int(max(0, min(ba[0], bb[0]) - 3))
        y1 = int(max(0, min(ba[1], bb[1]) - 3))
        x2, y2 = int(max(ba[2], bb[2]) + 3), int(max(ba[3], bb[3]) + 3)
        ma, mb = a.mask[y1:y2, x1:x2], b.mask[y1:y2, x1:x2]
        inter = int((ma & mb).sum())
        contact = inter > 0 or bool((binary_dilation(ma, iterations=_TOUCH_PX) & mb).any())
    return {"gap": gap, "inter": float(inter), "contact": float(contact)}


def true_predicates(objects: List[ToyObject], image_long_side: int) -> Dict[Tuple[int, int], Set[str]]:
    """All true predicates for every ordered pair (i, j), i != j (``objects`` in drawing order)."""
    n = len(objects)
    L = float(image_long_side)
    areas = [o.area for o in objects]
    geo = {}
    for i in range(n):
        for j in range(i + 1, n):
            geo[(i, j)] = geo[(j, i)] = pair_geometry(objects[i], objects[j])
    out: Dict[Tuple[int, int], Set[str]] = {}
    for i in range(n):
        s = objects[i]
        bs = s.box
        for j in range(n):
            if i == j:
                continue
            o = objects[j]
            bo = o.box
            g = geo[(i, j)]
            preds: Set[str] = set()
            dx, dy = o.cx - s.cx, o.cy - s.cy
            if abs(dx) >= abs(dy):
                preds.add("left of" if dx > 0 else "right of")
            else:
                preds.add("above" if dy > 0 else "below")
            small = min(areas[i], areas[j])
            inside_s_in_o = g["inter"] >= 0.9 * areas[i] and areas[i] <= 0.5 * areas[j]
            inside_o_in_s = g["inter"] >= 0.9 * areas[j] and areas[j] <= 0.5 * areas[i]
            shares = g["inter"] >= _CONTACT_FRACTION * small
            if inside_s_in_o:
                preds.add("inside")
            elif shares and not inside_o_in_s:
                preds.add("overlapping")
            in_contact = bool(g["contact"])
            if in_contact and not shares:
                preds.add("touching")
            if shares:
                preds.add("in front of" if i > j else "behind")
            if not in_contact and g["gap"] <= 0.12 * L:
                preds.add("near")
            if g["gap"] >= 0.4 * L:
                preds.add("far from")

            def rests_on(top: ToyObject, bt, bottom_box) -> bool:
                h = bottom_box[3] - bottom_box[1]
                return (
                    bottom_box[1] - 3 <= bt[3] <= bottom_box[1] + 0.35 * h
                    and top.cy < bottom_box[1] + 0.35 * h
                    and bottom_box[0] <= top.cx <= bottom_box[2]
                )

            if in_contact and not inside_s_in_o and not inside_o_in_s:
                if rests_on(s, bs, bo) and s.cy < o.cy:
                    preds.add("on")
                if rests_on(o, bo, bs) and o.cy < s.cy:
                    preds.add("under")
            if areas[i] >= 2 * areas[j]:
                preds.add("bigger than")
            if 2 * areas[i] <= areas[j]:
                preds.add("smaller than")
            if s.colour == o.colour:
                preds.add("same colour as")
            if s.shape == o.shape:
                preds.add("same shape as")
            if s.shape in POINTING_SHAPES and _ray_hits_box(s.cx, s.cy, s.heading, bo, 0.6 * L):
                if not (inside_s_in_o or inside_o_in_s):
                    preds.add("pointing at")
            out[(i, j)] = preds
    return out
