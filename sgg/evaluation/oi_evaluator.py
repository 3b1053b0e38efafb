"""Open Images V6 relation evaluator reproducing PySGG's ``eval_rel_results``.

Reports the dataset-level R@K (K = 1, 5, 10, 20, 50, 100; +1e-12 in the denominator) and
their per-image variants, AP per predicate for relationships (``rel``: min of the subject /
object IoUs) and phrases (``phr``: union-box IoU) with strict ``> 0.5`` greedy VOC matching,
mAP (plain mean over all predicates), wmAP (weighted by GT frequency) and
``score_wtd = w_final_score = 0.2 R@50 + 0.4 wmAP_rel + 0.4 wmAP_phr`` (``final_score``
uses the unweighted mAPs). Memory: at most ``top_k`` candidate rows per image.

Next to them, PySGG's OI-V6 table reports mR@50 from its copy of the classic (SGB) recall
code (eval_protocol.md section 3.2 step 7). The evaluator therefore also runs the VG-150
recall statistics (:mod:`sgg.evaluation.vg_stats`, same code as
:class:`~sgg.evaluation.VGSceneGraphEvaluator`) and reports them under the prefix
``classic/``: ``classic/R@K`` (graph constraint, image-averaged), ``classic/ngR@K``,
``classic/mR@K``, ``classic/ng-mR@K`` for K = 20, 50, 100. Un-prefixed names are the OI
protocol's own (dataset-level ``R@K``, ``wmAP_*``, ``score_wtd``).
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
from .oi_stats import OIStats, oi_image_candidates, voc_ap
from .report import plot_per_predicate, write_json_atomic
from .validation import EVAL_MODES, check_prediction
from .vg_stats import VGRecallStats, compute_image_ranks

#: prefix of the classic (SGB-code) recall metrics in the OI result dict
CLASSIC_PREFIX = "classic/"

__all__ = ["CLASSIC_PREFIX", "OIRelationEvaluator"]

logger = logging.getLogger(__name__)


@SGG_EVALUATOR_REGISTRY.register()
class OIRelationEvaluator(PerImageEvaluator):
    """PySGG-exact OI-V6 evaluator (R@50, wmAP_rel, wmAP_phr, score_wtd).

    Args:
        predicate_classes: predicate names including ``"__background__"`` at index 0.
        mode: ``predcls`` (GT boxes/labels, score 1, as in VG), ``sgcls`` or ``sgdet``.
        recall_ks: K values of the recall (PySGG: 1, 5, 10, 20, 50, 100).
        top_k: candidates kept per image (PySGG: 100).
        predicates_per_pair: predicates per pair entering the candidates (PySGG: 2).
        min_score: candidates with a score <= this are dropped (PySGG: 1e-5).
        classic_ks: K values of the classic recall family (``classic/R@K``...; PySGG: 20, 50, 100);
            empty to skip it.
        classic_ng_top_k: candidates kept by the classic no-graph-constraint recall (SGB: 100).
        output_dir: when given, ``evaluate`` writes ``metrics.json`` and an AP chart.
    """

    evaluator_type = "oiv6"

    def __init__(
        self,
        predicate_classes: Sequence[str],
        mode: str,
        recall_ks: Sequence[int] = (1, 5, 10, 20, 50, 100),
        top_k: int = 100,
        predicates_per_pair: int = 2,
        min_score: float = 1e-5,
        iou_threshold: float = 0.5,
        classic_ks: Sequence[int] = (20, 50, 100),
        classic_ng_top_k: int = 100,
        output_dir: str | None = None,
        dataset_name: str = "",
        validate: bool = True,
    ):
        if mode not in EVAL_MODES:
            raise ValueError(f"mode must be one of {EVAL_MODES}, got {mode!r}")
        if 50 not in recall_ks:
            raise ValueError("recall_ks must contain 50 (R@50 enters score_wtd)")
        self.predicate_classes = list(predicate_classes)
        self.num_predicates = len(self.predicate_classes) - 1
        self.mode = mode
        self.recall_ks = tuple(int(k) for k in recall_ks)
        self.top_k = int(top_k)
        self.predicates_per_pair = int(predicates_per_pair)
        self.min_score = float(min_score)
        self.iou_threshold = float(iou_threshold)
        self.classic_ks = tuple(int(k) for k in classic_ks)
        self.classic_ng_top_k = int(classic_ng_top_k)
        self.output_dir = output_dir
        self.dataset_name = dataset_name
        self.validate = validate
        self.reset()

    @classmethod
    def from_config(cls, cfg, metadata, output_dir: str | None = None) -> dict[str, Any]:
        """kwargs from a config and a ``DatasetMetadata``."""
        mode = eval_mode_from_config(cfg)
        return dict(predicate_classes=metadata.predicate_classes, mode=mode,
                    iou_threshold=cfg.TEST.RELATION.IOU_THRESHOLD, output_dir=output_dir,
                    dataset_name=getattr(metadata, "name", ""))

    def reset(self) -> None:
        self._stats = OIStats(self.recall_ks, self.num_predicates)
        self._classic = VGRecallStats(self.classic_ks, self.num_predicates)

    def process_one(self, rec: SceneGraphRecord, pred: SceneGraphPrediction) -> None:
        """Evaluate one image."""
        where = f"prediction for {rec.file_name!r}"
        if self.validate:
            check_prediction(pred, self.num_predicates, where)
        if pred.rel_scores is None and len(pred.rel_pair_idxs):
            raise ValueError(f"{where}: the OI-V6 protocol needs predicate_scores (top-2 predicates per pair)")
        boxes, labels, scores = pred.boxes, pred.labels, pred.scores
        if self.mode == "predcls":
            boxes, labels, scores = rec.boxes, rec.labels, np.ones(len(rec.labels), np.float32)
        rel_scores = pred.rel_scores if pred.rel_scores is not None else np.zeros((0, self.num_predicates + 1), np.float32)
        dets = oi_image_candidates(
            rec.boxes, rec.labels, rec.relations, boxes, labels, scores, pred.rel_pair_idxs, rel_scores,
            top_k=self.top_k, predicates_per_pair=self.predicates_per_pair, min_score=self.min_score,
            recall_iou=self.iou_threshold, ap_iou=self.iou_threshold,
        )
        self._stats.add(dets)
        if self.classic_ks:
            # classic recall: the VG-150 (SGB) code path; skips images without GT relation or pair
            ranks = compute_image_ranks(
                rec.boxes, rec.labels, rec.relations, pred.boxes, pred.labels, pred.scores,
                pred.rel_pair_idxs, pred.rel_scores, pred.rel_labels, mode=self.mode,
                iou_threshold=self.iou_threshold, max_rank=max(self.classic_ks),
                ng_top_k=self.classic_ng_top_k, pair_accuracy=False,
            )
            if ranks is not None:
                self._classic.add(ranks)

    def evaluate(self) -> dict[str, Any]:
        """Gather once, compute on the main process, log, write files."""
        gathered = gather_to_main((self._stats, self._classic))
        if not is_main_process():
            return {}
        stats = OIStats(self.recall_ks, self.num_predicates)
        classic = VGRecallStats(self.classic_ks, self.num_predicates)
        for st, cl in gathered:
            stats.merge(st)
            classic.merge(cl)
        return self.report(self.summarize(stats, classic))

    def summarize(self, stats: OIStats, classic: VGRecallStats | None = None) -> dict[str, Any]:
        """Metric dict (PySGG names; classic recall under ``classic/``) from the accumulated statistics."""
        c = self.num_predicates
        scores, preds, tp_rel, tp_phr = stats.pooled()
        npos = stats.npos[1:]
        all_npos = int(npos.sum())
        ap_rel, ap_phr, ndets = np.zeros(c), np.zeros(c), np.zeros(c, np.int64)
        for ci in range(c):
            idx = np.flatnonzero(preds == ci + 1)
            ndets[ci] = len(idx)
            order = idx[np.argsort(-scores[idx], kind="stable")]
            ap_rel[ci] = voc_ap(tp_rel[order], int(npos[ci]))
            ap_phr[ci] = voc_ap(tp_phr[order], int(npos[ci]))
        if all_npos:
            weight = npos / float(all_npos)
            w_rel = w_phr = 0.0
            for ci in range(c):  # same accumulation order as the reference
                w_rel += ap_rel[ci] * float(npos[ci]) / float(all_npos)
                w_phr += ap_phr[ci] * float(npos[ci]) / float(all_npos)
        else:
            logger.warning("OI evaluation: no GT relation at all, weighted mAPs are undefined")
            weight = np.zeros(c)
            w_rel = w_phr = float("nan")
        m_rel = float(sum(ap_rel.tolist())) / c
        m_phr = float(sum(ap_phr.tolist())) / c
        recalls = stats.hits / (float(stats.gt_total) + 1e-12)
        per_image = stats.per_image_recall_sum / max(stats.images, 1)
        main: dict[str, float] = OrderedDict()
        for k, v, vi in zip(self.recall_ks, recalls, per_image):
            main[f"R@{k}"] = float(v)
            main[f"R@{k}_per_image"] = float(vi)
        r50 = main["R@50"]
        main["R50"] = r50
        main["wmAP_rel"] = float(w_rel)
        main["wmAP_phr"] = float(w_phr)
        main["mAP_rel"] = m_rel
        main["mAP_phr"] = m_phr
        main["w_final_score"] = 0.4 * w_rel + 0.2 * r50 + 0.4 * w_phr
        main["score_wtd"] = main["w_final_score"]
        main["final_score"] = 0.4 * m_rel + 0.2 * r50 + 0.4 * m_phr
        per = OrderedDict(
            predicates=self.predicate_classes[1:], npos=npos.tolist(), ndets=ndets.tolist(),
            AP_rel=ap_rel.tolist(), AP_phr=ap_phr.tolist(), weight=np.asarray(weight, float).tolist(),
        )
        images = OrderedDict(total=stats.images, gt_relations=stats.gt_total)
        if classic is not None and self.classic_ks:
            # NaN when no image had both GT relations and predicted pairs (as the VG evaluator)
            for fam, r_name, mr_name in (("R", "R", "mR"), ("ngR", "ngR", "ng-mR")):
                for k, v in zip(self.classic_ks, classic.recall(fam)):
                    main[f"{CLASSIC_PREFIX}{r_name}@{k}"] = float(v)
                for k, v in zip(self.classic_ks, classic.mean_recall(fam)):
                    main[f"{CLASSIC_PREFIX}{mr_name}@{k}"] = float(v)
                table = classic.per_class_recall(fam)
                for i, k in enumerate(self.classic_ks):
                    per[f"{CLASSIC_PREFIX}{mr_name}@{k}"] = table[i].tolist()
            images["classic_recall"] = classic.images
        return OrderedDict([(self.mode, main), ("oi_per_predicate", per), ("oi_images", images)])

    def format_log(self, results: dict[str, Any]) -> str:
        """PySGG-style summary block."""
        main, per = results[self.mode], results["oi_per_predicate"]
        text = "\n" + "=" * 80 + "\nopenimage evaluation (mode=%s):\n" % self.mode
        for kind in ("rel", "phr"):
            text += "\n{} mAP: {:.2f}, weighted {} mAP: {:.2f}\n".format(
                kind, 100 * main[f"mAP_{kind}"], kind, 100 * main[f"wmAP_{kind}"])
            text += f"{kind} AP perclass: AP/ weighted-AP (recall)\n"
            text += "".join(
                f"{n}: {100 * ap:.3f} / {100 * ap * w:.3f} ({w:.6f}), "
                for n, ap, w in zip(per["predicates"], per[f"AP_{kind}"], per["weight"])
            ) + "\n"
        text += "\nrecall@50: {:.2f}, recall@100: {:.2f}\n".format(100 * main["R@50"], 100 * main.get("R@100", float("nan")))
        text += "recall@50: {:.2f}, recall@100: {:.2f} (per images)\n\n".format(
            100 * main["R@50_per_image"], 100 * main.get("R@100_per_image", float("nan")))
        text += "weighted_res: 0.4 * w_rel_mAP + 0.2 * recall@50 + 0.4 * w_phr_mAP \n"
        text += "final_score:{:.2f}  weighted final_score: {:.2f}\n".format(
            100 * main["final_score"], 100 * main["w_final_score"])
        if self.classic_ks and f"{CLASSIC_PREFIX}R@{self.classic_ks[0]}" in main:
            text += "\nclassic recall (SGB code, image-averaged):\n"
            for name in ("R", "ngR", "mR", "ng-mR"):
                vals = [main.get(f"{CLASSIC_PREFIX}{name}@{k}") for k in self.classic_ks]
                if vals[0] is not None:
                    text += f"{name:>6s}: " + " ".join(f"@{k}: {100 * v:.2f}" for k, v in zip(self.classic_ks, vals))
                    text += "\n"
        return text + "=" * 80 + "\n"

    def write_outputs(self, results: dict[str, Any], output_dir: str) -> None:
        """``metrics.json`` (atomic) and ``per_predicate_ap.png`` in ``output_dir``."""
        payload = dict(results)
        payload["settings"] = dict(evaluator="oiv6", dataset=self.dataset_name, mode=self.mode,
                                   recall_ks=list(self.recall_ks), top_k=self.top_k,
                                   predicates_per_pair=self.predicates_per_pair, min_score=self.min_score,
                                   classic_ks=list(self.classic_ks), classic_ng_top_k=self.classic_ng_top_k)
        path = write_json_atomic(os.path.join(output_dir, "metrics.json"), payload)
        per = results["oi_per_predicate"]
        plot_per_predicate(os.path.join(output_dir, "per_predicate_ap.png"), per["predicates"], per["AP_rel"],
                           f"{self.dataset_name} {self.mode}: per-predicate AP (rel)", ylabel="AP")
        logger.info("Wrote %s", path)
