"""What the HTML viewer shows of each image, computed on the Python side.

:func:`image_payload` turns one image (its scene-graph file entry, and with ground truth its
record and the evaluator's decisions) into the compact JSON-ready dict the viewer's page files
hold. Every match verdict the browser colours comes from here: the browser only compares the
exported ranks with the K the user picked, it never matches boxes itself.

Payload of one image (keys short on purpose: a VG-150 test split has 26k images)::

    {"name": file name, "src": image URL relative to the viewer (or null), "w": width, "h": height,
     "nobj": objects in the file, "nrel": relations in the file,
     "obj": [[x1, y1, x2, y2, label id, score], ...]        all objects of the file entry
     "rel": [[subject, object, predicate id, score, triplet score, tp], ...]
                                                             first ``max_relations`` rows, rank order;
                                                             tp: 1 / 0 (matches a GT triplet) with GT, else null
     "recall": {"20": R@20, ...} or null,                    the image's recall as the evaluator averages it
     "gt": {"obj": [[x1, y1, x2, y2, label id], ...],
            "rel": [[subject, object, predicate id, rank], ...],   rank: first matching prediction, -1: none
            "map": [GT object index or -1 per predicted object]}   (absent without ground truth)}
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from sgg.evaluation.decisions import TripletDecisions
from sgg.structures.scene_graph import SceneGraphRecord

__all__ = ["image_payload", "match_records"]


def _rounded(rows: list, digits: Sequence[int]) -> list:
    """``rows`` (lists of numbers) with column j rounded to ``digits[j]`` decimals (-1: integer)."""
    if not rows:
        return []
    table = np.asarray(rows, dtype=np.float64)
    cols = []
    for j, d in enumerate(digits):
        col = table[:, j]
        cols.append(col.astype(np.int64).tolist() if d < 0 else np.round(col, d).tolist())
    return [list(r) for r in zip(*cols)]


def image_payload(
    entry: Mapping[str, Any],
    *,
    src: str | None,
    ks: Sequence[int],
    max_relations: int = 100,
    record: SceneGraphRecord | None = None,
    decisions: TripletDecisions | None = None,
) -> dict:
    """The viewer's data of one image (module docstring); ``record`` and ``decisions`` go together."""
    if (record is None) != (decisions is None):
        raise ValueError("image_payload: pass both record and decisions, or neither")
    objects = entry["objects"]
    relations = entry["relations"][:max_relations]
    obj = _rounded([[*o["box"], o["label_id"], o["score"]] for o in objects], (1, 1, 1, 1, -1, 4))
    rel = _rounded([[x["subject"], x["object"], x["predicate_id"], x["score"], x.get("triplet_score", x["score"])]
                    for x in relations], (-1, -1, -1, 4, 6))
    if decisions is not None:
        tp = np.zeros(len(rel), dtype=bool)
        n = min(len(rel), len(decisions.row_hits))
        tp[:n] = decisions.row_hits[:n].any(1)
        for row, flag in zip(rel, tp.tolist()):
            row.append(int(flag))
    else:
        for row in rel:
            row.append(None)
    payload = {
        "name": str(entry["file_name"]), "src": src, "w": int(entry["width"]), "h": int(entry["height"]),
        "nobj": len(objects), "nrel": len(entry["relations"]), "obj": obj, "rel": rel, "recall": None,
    }
    if record is not None:
        payload["recall"] = None if not decisions.counted else {str(k): round(decisions.recall(k), 4) for k in ks}
        payload["gt"] = {
            "obj": _rounded([[*b, lbl] for b, lbl in zip(record.boxes.tolist(), record.labels.tolist())],
                            (1, 1, 1, 1, -1)),
            "rel": [[int(s), int(o), int(p), int(rank)]
                    for (s, o, p), rank in zip(np.asarray(record.relations).reshape(-1, 3), decisions.gt_rank)],
            "map": decisions.object_gt.tolist(),
        }
    return payload


def match_records(names: Iterable[str], records: Sequence[SceneGraphRecord], source: str) -> dict[str, SceneGraphRecord]:
    """Ground-truth record of every predicted image: same ``file_name``, else the only record with that base name.

    The demo names images by their base name (``1.jpg``) while a dataset split keys them by a
    path under its image folder (``images/1.jpg``); both are accepted. Raises ``ValueError``
    naming the images found in neither way (or whose base name is ambiguous).
    """
    by_name = {r.file_name: r for r in records}
    by_base: dict[str, list[SceneGraphRecord]] = {}
    for r in records:
        by_base.setdefault(os.path.basename(r.file_name), []).append(r)
    out, unknown, ambiguous = {}, [], []
    for name in names:
        if name in by_name:
            out[name] = by_name[name]
            continue
        found = by_base.get(os.path.basename(name), [])
        if len(found) == 1:
            out[name] = found[0]
        elif found:
            ambiguous.append(name)
        else:
            unknown.append(name)
    if unknown or ambiguous:
        parts = []
        if unknown:
            parts.append(f"{len(unknown)} image(s) not in the ground-truth split: {sorted(unknown)[:5]}")
        if ambiguous:
            parts.append(f"{len(ambiguous)} image(s) whose base name matches several GT images: {sorted(ambiguous)[:5]}")
        example = records[0].file_name if records else "(empty split)"
        raise ValueError(f"{source}: " + "; ".join(parts) + f" (GT file names look like {example!r})")
    taken: dict[str, str] = {}
    for name, rec in out.items():
        if rec.file_name in taken:
            raise ValueError(f"{source}: images {taken[rec.file_name]!r} and {name!r} both match GT image {rec.file_name!r}")
        taken[rec.file_name] = name
    return out
