"""Drop the prediction rows that no evaluation metric can ever look at.

An sgdet prediction of VG-150 holds up to 6,320 candidate pairs x 51 predicate scores
(~1.3 MB as float32, ~34 GB for the 26k test images), yet every metric of
``eval_protocol.md`` sections 2 and 3 reads at most a few hundred of those rows.
:func:`compact_prediction` keeps exactly those rows, so exported files stay small and
evaluating the compact prediction gives the same numbers as evaluating the full one.

Which rows can influence which metric (K <= 100 everywhere):

* graph-constrained R@K, mR@K, zR@K, F@K (SGB) and PySGG's classic recall: the first
  ``max_rank`` rows, as given (the row order *is* the rank);
* no-graph-constraint ngR@K, ng-mR@K, ng-zR@K: the pairs of the top ``ng_topk``
  (pair, foreground predicate) combinations scored subject x object x predicate;
* OI-V6 R@K, mAP/wmAP rel/phr, score_wtd: the pairs of the top ``oi_topk`` triplets among
  the ``oi_per_pair`` best foreground predicates of every pair (same score). PySGG also
  drops candidates scoring <= 1e-5 *after* the cut; such rows are kept here (harmless).
  (With ``oi_topk >= ng_topk`` the ngR pairs are a subset of these: a combination in the
  ngR top k is either among its pair's two best predicates, hence in the OI top k, or its
  pair's best predicate is in the ngR top k too. Both rules are applied all the same.)
* pair accuracy A@K (predcls/sgcls, when ``gt_pairs`` is given): the first ``max_rank``
  rows whose (subject, object) index pair is a GT pair (A@K filters to GT pairs before
  cutting at K, so these rows can sit anywhere in the ranking).

In PredCls the evaluators replace the object scores by 1, so the two score-based
selections are made both with the prediction's object scores and with unit object
scores (identical when the scores are already 1) and their union is kept.
"""
from __future__ import annotations

import numpy as np

from sgg.structures.scene_graph import SceneGraphPrediction

__all__ = ["GT_BOX_MODES", "compact_for_evaluation", "compact_prediction", "metric_row_indices"]

#: modes whose prediction objects are the GT objects (pair accuracy compares their indices)
GT_BOX_MODES = ("predcls", "sgcls")


def _topk_with_ties(values: np.ndarray, k: int, tie_rtol: float) -> np.ndarray:
    """Boolean mask of the ``k`` largest ``values`` plus every value within ``tie_rtol`` of the k-th."""
    n = values.shape[0]
    if n <= k:
        return np.ones(n, dtype=bool)
    kth = np.partition(values, n - k)[n - k]
    return values >= kth - tie_rtol * abs(kth)


def _candidate_rows(row_best: np.ndarray, k: int, tie_rtol: float) -> np.ndarray:
    """Rows that can hold one of the top-k candidates (or one tied with the k-th).

    Every row's best entry is a candidate, so the k-th largest row best is a lower bound
    of the k-th largest candidate; a row whose best is under it (beyond the tolerance)
    cannot contribute.
    """
    r = row_best.shape[0]
    if r <= k:
        return np.arange(r)
    bound = np.partition(row_best, r - k)[r - k]
    return np.flatnonzero(row_best >= bound - tie_rtol * abs(bound))


def _score_selected_rows(
    fg: np.ndarray, pair_scores: np.ndarray, ng_topk: int, oi_topk: int, oi_per_pair: int, tie_rtol: float
) -> np.ndarray:
    """Rows holding a top ``ng_topk`` (pair, predicate) combination or a top ``oi_topk`` OI triplet.

    ``fg``: (R, C) foreground predicate scores; ``pair_scores``: (R,) float64 subject x
    object scores. Products are taken in float64, and only on about k candidate rows.
    """
    r, c = fg.shape
    keep = np.zeros(r, dtype=bool)
    if r == 0 or c == 0:
        return keep
    row_best = pair_scores * fg.max(1).astype(np.float64)
    if ng_topk > 0:
        rows = _candidate_rows(row_best, ng_topk, tie_rtol)
        combos = (pair_scores[rows, None] * fg[rows].astype(np.float64)).reshape(-1)
        keep[rows[np.flatnonzero(_topk_with_ties(combos, ng_topk, tie_rtol)) // c]] = True
    if oi_topk > 0 and oi_per_pair > 0:
        per_pair = min(oi_per_pair, c)
        rows = _candidate_rows(row_best, oi_topk, tie_rtol)
        best = np.partition(fg[rows], c - per_pair, axis=1)[:, c - per_pair:]  # per-row top values, any order
        triplets = (pair_scores[rows, None] * best.astype(np.float64)).reshape(-1)
        keep[rows[np.flatnonzero(_topk_with_ties(triplets, oi_topk, tie_rtol)) // per_pair]] = True
    return keep


def metric_row_indices(
    pred: SceneGraphPrediction,
    gt_pairs: np.ndarray | None = None,
    *,
    max_rank: int = 100,
    ng_topk: int = 100,
    oi_topk: int = 100,
    oi_per_pair: int = 2,
    tie_rtol: float = 1e-6,
) -> np.ndarray:
    """Sorted (ascending = rank order) indices of the relation rows any metric can read.

    See :func:`compact_prediction` for the rules and why they are exact.
    """
    r = pred.num_relations
    keep = np.zeros(r, dtype=bool)
    keep[: max(0, max_rank)] = True
    if gt_pairs is not None and r:
        gt = np.asarray(gt_pairs, dtype=np.int64).reshape(-1, 2)
        base = max(int(pred.rel_pair_idxs.max()), int(gt.max()) if len(gt) else 0) + 1
        is_gt = np.isin(pred.rel_pair_idxs[:, 0] * base + pred.rel_pair_idxs[:, 1], gt[:, 0] * base + gt[:, 1])
        keep[np.flatnonzero(is_gt)[: max(0, max_rank)]] = True
    if pred.rel_scores is not None and r:
        # float64 products: the tolerance then covers any float32 evaluation arithmetic.
        fg = pred.rel_scores[:, 1:]
        obj = pred.scores.astype(np.float64)
        variants = [obj[pred.rel_pair_idxs[:, 0]] * obj[pred.rel_pair_idxs[:, 1]]]
        if not np.all(obj == 1.0):
            variants.append(np.ones(r))  # PredCls: evaluators use unit object scores
        for pair_scores in variants:
            keep |= _score_selected_rows(fg, pair_scores, ng_topk, oi_topk, oi_per_pair, tie_rtol)
    return np.flatnonzero(keep)


def compact_prediction(
    pred: SceneGraphPrediction,
    gt_pairs: np.ndarray | None = None,
    *,
    max_rank: int = 100,
    ng_topk: int = 100,
    oi_topk: int = 100,
    oi_per_pair: int = 2,
    tie_rtol: float = 1e-6,
    drop_unused_objects: bool = False,
) -> SceneGraphPrediction:
    """A copy of ``pred`` holding only the relation rows that can change a metric.

    Kept rows (union): the first ``max_rank`` rows; the pairs of the top ``ng_topk``
    (pair, foreground predicate) combinations by subject x object x predicate score (ngR
    family); the pairs of the top ``oi_topk`` OI-V6 triplets (``oi_per_pair`` best
    foreground predicates per pair, same score); with ``gt_pairs`` ((G, 2) subject,
    object indices of the GT relations, predcls/sgcls) the first ``max_rank`` rows whose
    index pair is a GT pair (pair accuracy). Score-based selections are made with the
    given object scores and with unit object scores (PredCls evaluation), see the module
    docstring. Kept rows keep their relative rank order, their full predicate score
    rows, chosen predicates and ``extras`` rows.

    Why the result is exact: every metric reads a prefix of some ranking. The
    graph-constrained ranking is the row order, which is preserved, and its first
    ``max_rank`` rows are kept; likewise the first ``max_rank`` GT-pair rows. For ngR,
    the kept pairs keep their whole score rows, so the compact candidates contain the
    global top ``ng_topk`` combinations, and every other compact candidate is outside the
    global top and scores no higher than the global k-th: the top ``ng_topk`` of the
    compact candidates is the global one, in the same order. The same holds for OI
    triplets (the per-pair best predicates are read from the kept full row). Ties: every
    combination within ``tie_rtol`` (relative) of the k-th score is kept as well, so
    (a) an evaluator that breaks ties by position (stable sort; rows keep their relative
    order, so the flattened (row, predicate) order of the kept candidates is unchanged)
    selects the same candidates on the compact and on the full prediction, and (b) the
    float32 rounding of an evaluator's products (|error| ~ 1e-7 relative) cannot move a
    dropped candidate into its top k. An evaluator breaking ties in an unspecified order
    (e.g. an unstable ``np.argsort``) is not deterministic on the full prediction either.

    Objects: all are kept by default (indices stay valid, detection mAP unchanged).
    ``drop_unused_objects=True`` drops the objects no kept relation refers to and
    renumbers the pairs; this changes object indices, so it cannot be combined with
    ``gt_pairs`` (pair accuracy compares indices) and changes box-detection metrics.
    Without ``rel_scores`` only the rank-based selections apply.

    Args:
        pred: the full prediction of one image (rows in rank order).
        gt_pairs: optional (G, 2) GT (subject, object) indices (GT-box modes only).
        max_rank: largest K of the rank-based metrics (SGB and PySGG: 100).
        ng_topk: candidates kept by no-graph-constraint recall (SGB: 100).
        oi_topk: triplets kept per image by the OI-V6 protocol (PySGG: 100).
        oi_per_pair: predicates per pair in the OI-V6 candidates (PySGG: 2).
        tie_rtol: relative tolerance under which scores count as tied with the k-th.
        drop_unused_objects: drop and renumber objects no kept relation refers to.
    """
    if drop_unused_objects and gt_pairs is not None:
        raise ValueError(
            "compact_prediction: drop_unused_objects=True renumbers objects, which breaks pair "
            "accuracy against gt_pairs; keep all objects (the default) in predcls/sgcls"
        )
    rows = metric_row_indices(
        pred, gt_pairs, max_rank=max_rank, ng_topk=ng_topk, oi_topk=oi_topk,
        oi_per_pair=oi_per_pair, tie_rtol=tie_rtol,
    )
    r = pred.num_relations
    extras = {}
    for name, arr in pred.extras.items():
        arr = np.asarray(arr)
        if arr.ndim == 0 or arr.shape[0] != r:
            raise ValueError(
                f"SceneGraphPrediction.extras[{name!r}]: expected leading dimension {r} (one row per "
                f"relation), got shape {arr.shape}"
            )
        extras[name] = arr[rows]
    pairs = pred.rel_pair_idxs[rows]
    obj_index = np.arange(pred.num_objects)
    if drop_unused_objects:
        obj_index = np.unique(pairs)
        remap = np.full(pred.num_objects, -1, dtype=np.int64)
        remap[obj_index] = np.arange(len(obj_index))
        pairs = remap[pairs]
    obj_extras = {}
    for name, arr in pred.obj_extras.items():
        arr = np.asarray(arr)
        if arr.ndim == 0 or arr.shape[0] != pred.num_objects:
            raise ValueError(
                f"SceneGraphPrediction.obj_extras[{name!r}]: expected leading dimension "
                f"{pred.num_objects} (one row per object), got shape {arr.shape}"
            )
        obj_extras[name] = arr[obj_index]
    return SceneGraphPrediction(
        boxes=pred.boxes[obj_index],
        labels=pred.labels[obj_index],
        scores=pred.scores[obj_index],
        rel_pair_idxs=pairs,
        rel_scores=None if pred.rel_scores is None else pred.rel_scores[rows],
        rel_labels=pred.rel_labels[rows],
        rel_label_scores=pred.rel_label_scores[rows],
        extras=extras,
        obj_extras=obj_extras,
    )


def compact_for_evaluation(pred: SceneGraphPrediction, mode: str, record=None, *,
                           where: str = "compact export", **kwargs) -> SceneGraphPrediction:
    """:func:`compact_prediction` for an evaluation ``mode``, taking the GT pairs from ``record``.

    In ``predcls`` / ``sgcls`` the prediction's objects are the GT objects, so the rows
    pair accuracy (A@K) reads are found from ``record.relations[:, :2]``; a record (any
    object with a ``relations`` (M, 3) array) is then required. In ``sgdet`` it is not
    used. ``kwargs`` go to :func:`compact_prediction` (``max_rank``, ``ng_topk``...).
    """
    if mode not in ("predcls", "sgcls", "sgdet"):
        raise ValueError(f"{where}: mode must be predcls, sgcls or sgdet, got {mode!r}")
    gt_pairs = None
    if mode in GT_BOX_MODES:
        relations = getattr(record, "relations", None)
        if relations is None:
            raise ValueError(
                f"{where}: mode {mode!r} needs the ground-truth record (its 'relations' field) to keep the "
                "rows pair accuracy A@K reads; pass the SceneGraphRecord as image info or give gt_pairs"
            )
        gt_pairs = np.asarray(relations, dtype=np.int64).reshape(-1, 3)[:, :2]
    return compact_prediction(pred, gt_pairs, **kwargs)
