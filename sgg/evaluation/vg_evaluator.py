"""VG-150 scene-graph evaluator reproducing Scene-Graph-Benchmark.pytorch (SGB) numbers.

Metrics (eval_protocol.md section 2), all as fractions: R@K (graph constraint), ngR@K,
mR@K and ng-mR@K (per-predicate image-averaged recall, divided by ALL C predicates),
zR@K / ng-zR@K (images with zero-shot GT only), A@K (pair accuracy, GT-box modes),
F@K = 2 R mR / (R + mR), optional phrase detection (``phrdet_*``), and the per-predicate
recall table. ``process`` keeps only constant-size running sums.
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord

from .base import (
    SGG_EVALUATOR_REGISTRY,
    PerImageEvaluator,
    eval_mode_from_config,
    gather_to_main,
    is_main_process,
)
from .report import plot_per_predicate, sgb_details, sgb_line, write_json_atomic
from .validation import EVAL_MODES, check_prediction
from .vg_stats import VGRecallStats, compute_image_ranks, zeroshot_keys

__all__ = ["VGSceneGraphEvaluator", "f_score"]

logger = logging.getLogger(__name__)


def f_score(recall: np.ndarray, mean_recall: np.ndarray) -> np.ndarray:
    """F@K = 2 R mR / (R + mR); NaN (undefined, as the reference derivation) when both are 0."""
    r, m = np.asarray(recall, float), np.asarray(mean_recall, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 2 * r * m / (r + m)


@SGG_EVALUATOR_REGISTRY.register()
class VGSceneGraphEvaluator(PerImageEvaluator):
    """SGB-exact VG-150 evaluator for predcls / sgcls / sgdet.

    Args:
        predicate_classes: predicate names including ``"__background__"`` at index 0.
        mode: ``predcls``, ``sgcls`` or ``sgdet``.
        zeroshot_triplets: (Z, 3) rows of (subject label, object label, predicate), or None.
        iou_threshold: IoU needed on subject and object boxes (inclusive).
        phrase_detection: also compute phrase-detection recalls (``phrdet_R@K`` ...).
        recall_ks: the K values (SGB: 20, 50, 100).
        ng_top_k: candidates kept by no-graph-constraint recall before cutting at K (SGB: 100).
        output_dir: when given, ``evaluate`` writes ``metrics.json`` and a per-predicate chart.
        dataset_name: used in log lines and the output file.
        validate: check every prediction's fields (boxes, NaN, score width); cheap.
    """

    evaluator_type = "vg150"

    def __init__(
        self,
        predicate_classes: Sequence[str],
        mode: str,
        zeroshot_triplets: np.ndarray | None = None,
        iou_threshold: float = 0.5,
        phrase_detection: bool = False,
        recall_ks: Sequence[int] = (20, 50, 100),
        ng_top_k: int = 100,
        output_dir: str | None = None,
        dataset_name: str = "",
        validate: bool = True,
    ):
        if mode not in EVAL_MODES:
            raise ValueError(f"mode must be one of {EVAL_MODES}, got {mode!r}")
        if len(predicate_classes) < 2:
            raise ValueError("predicate_classes must list '__background__' and at least one predicate")
        self.predicate_classes = list(predicate_classes)
        self.num_predicates = len(self.predicate_classes) - 1
        self.mode = mode
        self.zeroshot_triplets = None if zeroshot_triplets is None else np.asarray(zeroshot_triplets, np.int64)
        self._zs_keys = zeroshot_keys(self.zeroshot_triplets)
        self.iou_threshold = float(iou_threshold)
        self.phrase_detection = bool(phrase_detection)
        self.recall_ks = tuple(int(k) for k in recall_ks)
        self.ng_top_k = int(ng_top_k)
        self.output_dir = output_dir
        self.dataset_name = dataset_name
        self.validate = validate
        self.reset()

    @classmethod
    def from_config(cls, cfg, metadata, output_dir: str | None = None) -> dict[str, Any]:
        """kwargs from a config and a ``DatasetMetadata``."""
        mode = eval_mode_from_config(cfg)
        return dict(
            predicate_classes=metadata.predicate_classes,
            mode=mode,
            zeroshot_triplets=getattr(metadata, "zeroshot_triplets", None),
            iou_threshold=cfg.TEST.RELATION.IOU_THRESHOLD,
            phrase_detection=cfg.TEST.RELATION.PHRDET,
            output_dir=output_dir,
            dataset_name=getattr(metadata, "name", ""),
        )

    # ------------------------------------------------------------------ accumulate
    def reset(self) -> None:
        self._stats = VGRecallStats(self.recall_ks, self.num_predicates)
        self._counts = {"seen": 0, "skipped_no_gt": 0, "skipped_no_pred": 0, "without_predicate_scores": 0}

    def process_one(self, rec: SceneGraphRecord, pred: SceneGraphPrediction) -> None:
        """Evaluate one image (see :func:`sgg.evaluation.vg_stats.compute_image_ranks`)."""
        self._counts["seen"] += 1
        if self.validate:
            check_prediction(pred, self.num_predicates, f"prediction for {rec.file_name!r}")
        if pred.rel_scores is None:
            self._counts["without_predicate_scores"] += 1
        ranks = compute_image_ranks(
            rec.boxes, rec.labels, rec.relations,
            pred.boxes, pred.labels, pred.scores, pred.rel_pair_idxs, pred.rel_scores, pred.rel_labels,
            mode=self.mode, iou_threshold=self.iou_threshold, max_rank=max(self.recall_ks), ng_top_k=self.ng_top_k,
            phrase_detection=self.phrase_detection, zeroshot=self._zs_keys,
        )
        if ranks is None:
            key = "skipped_no_gt" if len(rec.relations) == 0 else "skipped_no_pred"
            self._counts[key] += 1
            return
        self._stats.add(ranks)

    # ------------------------------------------------------------------ results
    def evaluate(self) -> dict[str, Any]:
        """Gather once, compute on the main process, log SGB's block, write files."""
        gathered = gather_to_main((self._stats, self._counts))
        if not is_main_process():
            return {}
        stats = VGRecallStats(self.recall_ks, self.num_predicates)
        counts = {k: 0 for k in self._counts}
        for st, cn in gathered:
            stats.merge(st)
            for k, v in cn.items():
                counts[k] += v
        return self.report(self.summarize(stats, counts))

    def summarize(self, stats: VGRecallStats, counts: dict[str, int]) -> dict[str, Any]:
        """Metric dict from accumulated statistics."""
        ks = self.recall_ks
        has_ng = counts["without_predicate_scores"] == 0
        if not has_ng:
            logger.warning(
                "%d of %d predictions have no predicate_scores: only graph-constrained metrics "
                "(R, mR, zR, A, F) are reported; ngR / ng-mR / ng-zR need the full predicate scores.",
                counts["without_predicate_scores"], counts["seen"],
            )
        main: dict[str, float] = OrderedDict()
        families = [("R", "R", "mR", "zR")]
        if has_ng:
            families.append(("ngR", "ngR", "ng-mR", "ng-zR"))
        for fam, r_name, mr_name, zr_name in families:
            for k, v in zip(ks, stats.recall(fam)):
                main[f"{r_name}@{k}"] = float(v)
            for k, v in zip(ks, stats.mean_recall(fam)):
                main[f"{mr_name}@{k}"] = float(v)
            for k, v in zip(ks, stats.zeroshot_recall(fam)):
                main[f"{zr_name}@{k}"] = float(v)
        if self.mode in ("predcls", "sgcls"):
            for k, v in zip(ks, stats.pair_accuracy()):
                main[f"A@{k}"] = float(v)
        for k, v in zip(ks, f_score(stats.recall("R"), stats.mean_recall("R"))):
            main[f"F@{k}"] = float(v)
        if self.phrase_detection:
            for fam in ("phrdet_R", "phrdet_ngR") if has_ng else ("phrdet_R",):
                for k, v in zip(ks, stats.recall(fam)):
                    main[f"{fam}@{k}"] = float(v)
            for k, v in zip(ks, stats.mean_recall("phrdet_R")):
                main[f"phrdet_mR@{k}"] = float(v)

        per_pred: dict[str, Any] = OrderedDict(predicates=self.predicate_classes[1:])
        per_pred["images"] = stats.class_images[1:].tolist()
        for fam, name in (("R", "mR"), ("ngR", "ng-mR")):
            if fam == "ngR" and not has_ng:
                continue
            table = stats.per_class_recall(fam)
            for i, k in enumerate(ks):
                per_pred[f"{name}@{k}"] = table[i].tolist()
        images = OrderedDict(
            recall=stats.images,
            zeroshot_recall=stats.zs_images,
            skipped_no_gt=counts["skipped_no_gt"],
            skipped_no_pred=counts["skipped_no_pred"],
            total=counts["seen"],
        )
        return OrderedDict([(self.mode, main), ("per_predicate", per_pred), ("images_in_average", images)])

    def format_log(self, results: dict[str, Any]) -> str:
        """SGB's evaluation block (same line formats), plus F@K and phrase-detection lines."""
        mode, main, ks = self.mode, results[self.mode], self.recall_ks
        names = self.predicate_classes[1:]
        per = results["per_predicate"]

        def vals(prefix: str):
            return [main[f"{prefix}@{k}"] for k in ks]

        text = "\n" + "=" * 100 + "\n"
        text += sgb_line("    R", ks, vals("R"), mode, "Recall(Main)")
        has_ng = "ngR@%d" % ks[0] in main
        if has_ng:
            text += sgb_line(" ng-R", ks, vals("ngR"), mode, "No Graph Constraint Recall(Main)")
        text += sgb_line("   zR", ks, vals("zR"), mode, "Zero Shot Recall")
        if has_ng:
            text += sgb_line("ng-zR", ks, vals("ng-zR"), mode, "No Graph Constraint Zero Shot Recall")
        text += sgb_line("   mR", ks, vals("mR"), mode, "Mean Recall")
        text += sgb_details(names, per[f"mR@{ks[-1]}"])
        if has_ng:
            text += sgb_line("ng-mR", ks, vals("ng-mR"), mode, "No Graph Constraint Mean Recall")
            text += sgb_details(names, per[f"ng-mR@{ks[-1]}"])
        if mode in ("predcls", "sgcls"):
            text += sgb_line("    A", ks, vals("A"), mode, "TopK Accuracy")
        text += sgb_line("    F", ks, vals("F"), mode, "F1 of R and mR")
        if self.phrase_detection:
            text += sgb_line("    R", ks, vals("phrdet_R"), "phrdet", "Recall(Main)")
            if has_ng:
                text += sgb_line(" ng-R", ks, vals("phrdet_ngR"), "phrdet", "No Graph Constraint Recall(Main)")
            text += sgb_line("   mR", ks, vals("phrdet_mR"), "phrdet", "Mean Recall")
        text += "=" * 100 + "\n"
        return text

    def write_outputs(self, results: dict[str, Any], output_dir: str) -> None:
        """``metrics.json`` (atomic) and ``per_predicate_recall.png`` in ``output_dir``."""
        os.makedirs(output_dir, exist_ok=True)
        payload = dict(results)
        payload["settings"] = dict(
            evaluator="vg150", dataset=self.dataset_name, mode=self.mode, iou_threshold=self.iou_threshold,
            recall_ks=list(self.recall_ks), ng_top_k=self.ng_top_k,
            zeroshot_triplets=0 if self.zeroshot_triplets is None else len(self.zeroshot_triplets),
        )
        path = write_json_atomic(os.path.join(output_dir, "metrics.json"), payload)
        k = self.recall_ks[-1]
        plot_per_predicate(
            os.path.join(output_dir, "per_predicate_recall.png"), self.predicate_classes[1:],
            results["per_predicate"][f"mR@{k}"], f"{self.dataset_name} {self.mode}: per-predicate R@{k}",
        )
        logger.info("Wrote %s", path)
