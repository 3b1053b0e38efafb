"""Fixed vocabulary of the toy dataset: object classes, predicates, attributes and hierarchies.

Object classes are ``<colour>_<shape>`` (6 shapes x 4 colours = 24 classes); their parent in the
2-level object hierarchy is the shape family. Predicates (18) are grouped into 6 parents. Class ids
follow the VG-150 convention: 1-indexed in alphabetical order of the names, 0 = ``__background__``.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

__all__ = [
    "SHAPES", "COLOURS", "TEXTURES", "SIZES", "POINTING_SHAPES", "PREDICATE_GROUPS",
    "OBJECT_CLASSES", "PREDICATES", "ATTRIBUTES", "PREDICATE_FLIP_MAP", "PREDICATE_PRIOR", "PREDICATE_PRIOR_ORDER",
    "object_class_name", "object_hierarchy", "predicate_hierarchy",
]

SHAPES: Tuple[str, ...] = ("arrow", "circle", "diamond", "square", "star", "triangle")
COLOURS: Dict[str, Tuple[int, int, int]] = {
    "blue": (40, 80, 220),
    "green": (40, 170, 60),
    "red": (215, 40, 40),
    "yellow": (235, 200, 30),
}
TEXTURES: Tuple[str, ...] = ("solid", "striped", "dotted")
SIZES: Tuple[str, ...] = ("small", "medium", "large")
# shapes with a visible heading, able to be "pointing at" something
POINTING_SHAPES: Tuple[str, ...] = ("arrow", "triangle")

PREDICATE_GROUPS: Dict[str, Tuple[str, ...]] = {
    "position": ("left of", "right of", "above", "below"),
    "distance": ("near", "far from"),
    "contact": ("touching", "overlapping", "inside", "on", "under"),
    "depth": ("in front of", "behind"),
    "comparison": ("bigger than", "smaller than", "same colour as", "same shape as"),
    "action": ("pointing at",),
}

# Annotation prior of the simulated annotator: weight of each predicate when it is TRUE for a pair.
# Calibrated (iteratively, on 500 scenes of another seed) so that the ANNOTATED frequencies fall
# geometrically from "near" to "inside" with a head/tail ratio of about 100; listed by that frequency.
PREDICATE_PRIOR: Dict[str, float] = {
    "near": 0.366, "left of": 1.0, "above": 0.198, "right of": 0.157, "below": 0.0611,
    "bigger than": 0.0766, "overlapping": 0.0818, "far from": 0.279, "smaller than": 0.0302,
    "same colour as": 0.0326, "in front of": 0.0493, "touching": 0.0243, "behind": 0.0253,
    "on": 0.0489, "same shape as": 0.0109, "pointing at": 0.0147, "under": 0.0103, "inside": 0.049,
}
PREDICATE_PRIOR_ORDER: Tuple[str, ...] = tuple(PREDICATE_PRIOR)

# Horizontal flip: direction-dependent predicates swap; all others are flip-invariant.
PREDICATE_FLIP_MAP: Dict[str, str] = {"left of": "right of", "right of": "left of"}


def object_class_name(colour: str, shape: str) -> str:
    """Class name of a shape of a colour, e.g. ``red_circle``."""
    return f"{colour}_{shape}"


OBJECT_CLASSES: List[str] = sorted(object_class_name(c, s) for s in SHAPES for c in COLOURS)
PREDICATES: List[str] = sorted(p for group in PREDICATE_GROUPS.values() for p in group)
ATTRIBUTES: List[str] = sorted(TEXTURES + SIZES)

assert len(OBJECT_CLASSES) == 24 and len(PREDICATES) == 18
assert sorted(PREDICATE_PRIOR_ORDER) == PREDICATES


def object_hierarchy() -> Dict[str, List[str]]:
    """Parent (shape family) -> children (object class names), 2 levels under ``object``."""
    tree: Dict[str, List[str]] = {"object": [f"{s}s" for s in SHAPES]}
    for s in SHAPES:
        tree[f"{s}s"] = sorted(object_class_name(c, s) for c in COLOURS)
    return tree


def predicate_hierarchy() -> Dict[str, List[str]]:
    """Parent (predicate group) -> children (predicate names), 2 levels under ``relation``."""
    tree: Dict[str, List[str]] = {"relation": list(PREDICATE_GROUPS)}
    for g, preds in PREDICATE_GROUPS.items():
        tree[g] = list(preds)
    return tree
