"""Does a per-relation score predict the relation head's mistakes? (e.g. the hyperbolic radius).

For every annotated pair of an image (GT boxes: predcls / sgcls, so prediction object ``i`` is GT
object ``i``) the evaluator takes the prediction row of that pair, marks it as an *error* when its
top predicate is not one of the pair's GT predicates, and keeps the values of some per-relation
scores (``SceneGraphPrediction.extras[key]``, plus the head's own top-predicate confidence as a
reference). ``evaluate()`` then reports, per score:

* ``spearman``: Spearman rank correlation between the score and the error indicator;
* ``auroc``: probability that a random error has a higher score than a random correct pair
  (0.5 = no information; below 0.5 = higher scores mark *fewer* errors);
* ``error_low_q`` / ``error_high_q``: error rate (%) among the pairs in the lowest / highest
  quarter of the score.

Statistics are kept per annotated pair (bounded by the GT relations of an image).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata, spearmanr

from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord
from sgg.utils.io import atomic_write_text

from .base import PerImageEvaluator, eval_mode_from_config, gather_to_main, is_main_process

__all__ = ["CONFIDENCE_KEY", "RelationUncertaintyEvaluator", "error_auroc"]

#: Name of the reference score: the probability of the chosen predicate (``rel_label_scores``).
CONFIDENCE_KEY = "predicate_confidence"


def error_auroc(score: np.ndarray, error: np.ndarray) -> float:
    """P(score of a random error > score of a random correct pair), ties counted half (Mann-Whitney).

    Returns NaN when there are no errors or no correct pairs.
    """
    error = np.asarray(error, dtype=bool)
    n_err, n_ok = int(error.sum()), int((~error).sum())
    if n_err == 0 or n_ok == 0:
        return float("nan")
    ranks = rankdata(np.asarray(score, dtype=np.float64))
    return float((ranks[error].sum() - n_err * (n_err + 1) / 2) / (n_err * n_ok))


class RelationUncertaintyEvaluator(PerImageEvaluator):
    """Rank statistics between per-relation scores and the errors of the top predicate.

    Args:
        score_keys: keys of ``SceneGraphPrediction.extras`` to study (1-D, one value per relation).
        mode: ``predcls`` or ``sgcls`` (``sgdet`` has no one-to-one GT pair, so it is refused).
    """

    def __init__(
        self, score_keys: Sequence[str], mode: str = "predcls", output_dir: str | None = None
    ) -> None:
        if mode not in ("predcls", "sgcls"):
            raise ValueError(
                f"RelationUncertaintyEvaluator needs GT boxes (predcls/sgcls), got mode {mode!r}"
            )
        if not score_keys:
            raise ValueError("RelationUncertaintyEvaluator: give at least one extras key in score_keys")
        self.score_keys = tuple(score_keys)
        self.mode = mode
        self.output_dir = output_dir
        self.reset()

    @classmethod
    def from_config(cls, cfg, metadata=None, output_dir: str | None = None) -> dict[str, Any]:
        """``TEST.UNCERTAINTY_SCORES`` and the mode of the config."""
        return {
            "score_keys": tuple(cfg.TEST.UNCERTAINTY_SCORES),
            "mode": eval_mode_from_config(cfg),
            "output_dir": output_dir,
        }

    def reset(self) -> None:
        self._scores: dict[str, list[np.ndarray]] = {k: [] for k in (*self.score_keys, CONFIDENCE_KEY)}
        self._errors: list[np.ndarray] = []

    def process_one(self, rec: SceneGraphRecord, pred: SceneGraphPrediction) -> None:
        """Fold the annotated pairs of one image."""
        missing = [k for k in self.score_keys if k not in pred.extras]
        if missing:
            raise KeyError(
                f"{rec.file_name}: prediction has no extras {missing} (has {sorted(pred.extras)}); "
                "is the auxiliary head that produces them switched on?"
            )
        if len(rec.relations) == 0 or pred.num_relations == 0:
            return
        row_of = {}
        for row, (s, o) in enumerate(pred.rel_pair_idxs.tolist()):
            row_of.setdefault((s, o), row)
        gt_preds: dict[tuple[int, int], set[int]] = {}
        for s, o, p in np.asarray(rec.relations).tolist():
            gt_preds.setdefault((int(s), int(o)), set()).add(int(p))
        rows, errors = [], []
        for pair, predicates in gt_preds.items():
            row = row_of.get(pair)
            if row is None:
                continue  # pair not scored by the model (e.g. filtered); not counted
            rows.append(row)
            errors.append(int(pred.rel_labels[row]) not in predicates)
        if not rows:
            return
        idx = np.asarray(rows)
        self._errors.append(np.asarray(errors, dtype=bool))
        self._scores[CONFIDENCE_KEY].append(pred.rel_label_scores[idx].astype(np.float64))
        for key in self.score_keys:
            values = np.asarray(pred.extras[key])
            if values.ndim != 1 or len(values) != pred.num_relations:
                raise ValueError(
                    f"{rec.file_name}: extras[{key!r}] must have shape ({pred.num_relations},), got {values.shape}"
                )
            self._scores[key].append(values[idx].astype(np.float64))

    def evaluate(self) -> dict[str, Any]:
        """``{"uncertainty": {"<key>/spearman": ..., "<key>/auroc": ..., ...}, ...}`` on the main process."""
        parts = gather_to_main((self._errors, self._scores))
        if not is_main_process():
            return {}
        errors = np.concatenate([e for errs, _ in parts for e in errs]) if parts[0][0] else np.zeros(0, bool)
        out: dict[str, float] = {
            "pairs": float(len(errors)),
            "error_rate": 100.0 * float(errors.mean()) if len(errors) else float("nan"),
        }
        for key in (*self.score_keys, CONFIDENCE_KEY):
            values = np.concatenate([v for _, sc in parts for v in sc[key]]) if len(errors) else np.zeros(0)
            out.update({f"{key}/{name}": value for name, value in _rank_stats(values, errors).items()})
        return self.report({"uncertainty": out})

    def format_log(self, results: dict[str, Any]) -> str:
        """One line per statistic."""
        stats = results["uncertainty"]
        return f"Relation uncertainty ({self.mode}):\n" + "\n".join(
            f"  {k}: {v:.4f}" for k, v in stats.items()
        )

    def write_outputs(self, results: dict[str, Any], output_dir: str) -> None:
        """``uncertainty.json`` in ``output_dir`` (atomic)."""
        atomic_write_text(os.path.join(output_dir, "uncertainty.json"), json.dumps(results, indent=2))


def _rank_stats(values: np.ndarray, errors: np.ndarray) -> dict[str, float]:
    nan = float("nan")
    if len(values) < 4 or errors.all() or not errors.any() or np.ptp(values) == 0:
        return {"spearman": nan, "auroc": nan, "error_low_q": nan, "error_high_q": nan}
    low, high = np.quantile(values, [0.25, 0.75])
    return {
        "spearman": float(spearmanr(values, errors.astype(np.float64)).statistic),
        "auroc": error_auroc(values, errors),
        "error_low_q": 100.0 * float(errors[values <= low].mean()),
        "error_high_q": 100.0 * float(errors[values >= high].mean()),
    }
