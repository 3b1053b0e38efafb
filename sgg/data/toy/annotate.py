"""Simulated annotator: incomplete, long-tailed choice of one (sometimes two) true predicates per pair.

* Only some ordered pairs are annotated (closer pairs are more salient), never both directions of
  one pair, and a small fraction of images gets no relation at all (incomplete annotation, as VG).
* For an annotated pair, the predicate is drawn among the TRUE ones with the calibrated long-tailed
  prior ``PREDICATE_PRIOR`` (annotated frequencies: head about 100x the tail); sometimes a second
  true predicate is added to the same pair (VG-style duplicate pairs).
* Training images never receive a held-out (subject class, object class, predicate) triplet: it is
  re-drawn among the remaining true predicates (or the pair is skipped), which creates zero-shot
  test triplets.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Set, Tuple

import numpy as np

from .vocabulary import PREDICATE_PRIOR, PREDICATE_PRIOR_ORDER

__all__ = ["AnnotatorConfig", "annotate_pairs", "sample_heldout_triplets"]

Triplet = Tuple[str, str, str]  # subject class, object class, predicate


@dataclass
class AnnotatorConfig:
    """Knobs of the simulated annotator."""

    prior: Dict[str, float] = field(default_factory=lambda: dict(PREDICATE_PRIOR))  # weight when true
    pairs_per_object: float = 1.0  # mean annotated pairs per object (before capping)
    second_predicate_prob: float = 0.08  # chance an annotated pair gets a second true predicate
    empty_image_prob: float = 0.02  # chance an image gets no relation annotation at all


def sample_heldout_triplets(rng: np.random.Generator, object_classes: List[str], fraction: float = 0.05,
                            protected: int = 5) -> FrozenSet[Triplet]:
    """A random ``fraction`` of all triplets, excluding the ``protected`` most preferred predicates."""
    preds = list(PREDICATE_PRIOR_ORDER[protected:])
    out = set()
    for s in object_classes:
        for o in object_classes:
            for p in preds:
                if rng.random() < fraction:
                    out.add((s, o, p))
    return frozenset(out)


def annotate_pairs(rng: np.random.Generator, truth: Dict[Tuple[int, int], Set[str]], class_names: List[str],
                   gaps: Dict[Tuple[int, int], float], cfg: AnnotatorConfig, weights: Dict[str, float],
                   forbidden: FrozenSet[Triplet]) -> List[Tuple[int, int, str]]:
    """Annotated (subject, object, predicate) rows of one image."""
    n = len(class_names)
    if n < 2 or rng.random() < cfg.empty_image_prob:
        return []
    pairs = sorted(truth)
    salience = np.array([1.0 / (1.0 + gaps[p] / 16.0) for p in pairs])
    order = rng.choice(len(pairs), size=len(pairs), replace=False, p=salience / salience.sum())
    want = max(1, int(rng.poisson(cfg.pairs_per_object * n)))
    rows: List[Tuple[int, int, str]] = []
    used: Set[Tuple[int, int]] = set()
    for k in order:
        if len(used) >= want:
            break
        i, j = pairs[k]
        if (j, i) in used:
            continue
        allowed = sorted(p for p in truth[(i, j)] if (class_names[i], class_names[j], p) not in forbidden)
        if not allowed:
            continue
        w = np.array([weights[p] for p in allowed])
        n_preds = 2 if (len(allowed) > 1 and rng.random() < cfg.second_predicate_prob) else 1
        chosen = rng.choice(len(allowed), size=n_preds, replace=False, p=w / w.sum())
        for c in chosen:
            rows.append((i, j, allowed[int(c)]))
        used.add((i, j))
    return rows
