"""Template captions built from an image's annotated scene graph (for text-to-image retrieval)."""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

__all__ = ["describe_object", "make_captions"]


def describe_object(class_name: str, size_name: str, texture: str) -> str:
    """'a small striped red circle' from the class name ``red_circle`` and attributes."""
    colour, shape = class_name.split("_", 1)
    tex = "" if texture == "solid" else f"{texture} "
    return f"a {size_name} {tex}{colour} {shape}"


def make_captions(rng: np.random.Generator, descriptions: Sequence[str], relations: Sequence[Tuple[int, int, str]],
                  max_captions: int = 3) -> List[str]:
    """Up to ``max_captions`` sentences; each joins one to three annotated relations of the image.

    The first caption lists the objects when the image has no relation, so every image gets one.
    """
    if not relations:
        names = ", ".join(descriptions)
        return [f"an image with {names}." if names else "an empty image."]
    order = rng.permutation(len(relations))
    captions: List[str] = []
    k = 0
    while k < len(order) and len(captions) < max_captions:
        take = int(rng.integers(1, 4))
        parts = []
        for idx in order[k:k + take]:
            s, o, p = relations[int(idx)]
            parts.append(f"{descriptions[s]} {p} {descriptions[o]}")
        k += take
        captions.append(" and ".join(parts) + ".")
    return captions
