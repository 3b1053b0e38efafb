"""COCO-style box detection metrics (mAP@0.5, mAP@[.5:.95]) with pycocotools, all in memory."""

from __future__ import annotations

import contextlib
import io
import logging
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from sgg.structures.image_sample import ImageSample
from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord

__all__ = ["COCODetectionEvaluator", "detections_to_original"]

logger = logging.getLogger(__name__)

ArrayLike = Union[np.ndarray, torch.Tensor, Sequence]
DetectionOutput = Union[SceneGraphPrediction, Tuple[ArrayLike, ArrayLike, ArrayLike]]


def _np(x: ArrayLike, dtype) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def detections_to_original(
    detections, samples: Sequence[ImageSample]
) -> List[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(boxes, labels, scores) per image in original pixels from network-input ``Detections``."""
    return [
        (
            _np(s.to_original(d.boxes.detach().cpu()), np.float32),
            _np(d.labels, np.int64),
            _np(d.scores, np.float32),
        )
        for d, s in zip(detections, samples)
    ]


def _xywh(boxes: np.ndarray) -> np.ndarray:
    out = boxes.astype(np.float64).copy()
    out[:, 2:] -= out[:, :2]
    return out


class COCODetectionEvaluator:
    """Box AP of detections against ``SceneGraphRecord`` ground truth, COCO protocol (pycocotools).

    ``process(inputs, outputs)`` takes the ground-truth records and, per image, either a
    :class:`SceneGraphPrediction` or a ``(boxes, labels, scores)`` triple, in ORIGINAL pixels (see
    :func:`detections_to_original`). ``evaluate()`` returns
    ``{"bbox": {"mAP@0.5", "mAP@0.75", "mAP@[.5:.95]"}}`` on a 0-1 scale (mean over classes that have
    ground truth; 101-point interpolated precision; at most ``max_dets`` detections per image).

    Args:
        class_names: object classes with "__background__" at 0 (categories are 1..C-1); when None,
            the categories are the labels seen in the ground truth and the detections.
        max_dets: detections per image that count (COCO: 100).
    """

    def __init__(self, class_names: Optional[Sequence[str]] = None, max_dets: int = 100) -> None:
        self.class_names = list(class_names) if class_names is not None else None
        self.max_dets = int(max_dets)
        self.reset()

    def reset(self) -> None:
        """Forget every processed image."""
        self._images: List[dict] = []
        self._gt: List[dict] = []
        self._dt: List[dict] = []

    def process(self, inputs: Sequence[SceneGraphRecord], outputs: Sequence[DetectionOutput]) -> None:
        """Add one batch of ground truth and detections (original pixels)."""
        if len(inputs) != len(outputs):
            raise ValueError(
                f"COCODetectionEvaluator.process: {len(inputs)} inputs but {len(outputs)} outputs"
            )
        for rec, out in zip(inputs, outputs):
            if isinstance(out, SceneGraphPrediction):
                boxes, labels, scores = out.boxes, out.labels, out.scores
            else:
                boxes, labels, scores = out
            boxes, labels, scores = (
                _np(boxes, np.float32).reshape(-1, 4),
                _np(labels, np.int64),
                _np(scores, np.float32),
            )
            if not len(boxes) == len(labels) == len(scores):
                raise ValueError(
                    f"detections for {rec.file_name}: {len(boxes)} boxes, {len(labels)} labels, "
                    f"{len(scores)} scores"
                )
            img_id = len(self._images) + 1
            self._images.append(
                {"id": img_id, "width": int(rec.width), "height": int(rec.height), "file_name": rec.file_name}
            )
            for box, lab in zip(_xywh(rec.boxes), rec.labels):
                self._gt.append(
                    {
                        "id": len(self._gt) + 1,
                        "image_id": img_id,
                        "category_id": int(lab),
                        "bbox": box.tolist(),
                        "area": float(box[2] * box[3]),
                        "iscrowd": 0,
                    }
                )
            order = np.argsort(-scores, kind="stable")[: self.max_dets]
            for box, lab, sc in zip(_xywh(boxes[order]), labels[order], scores[order]):
                self._dt.append(
                    {"image_id": img_id, "category_id": int(lab), "bbox": box.tolist(), "score": float(sc)}
                )

    def _categories(self) -> List[int]:
        if self.class_names is not None:
            return list(range(1, len(self.class_names)))
        return sorted({a["category_id"] for a in self._gt} | {d["category_id"] for d in self._dt})

    def evaluate(self) -> Dict[str, Dict[str, float]]:
        """COCO box metrics over everything processed since :meth:`reset` (all ranks; ``{}`` off the main one)."""
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        from .base import gather_to_main, is_main_process

        parts = gather_to_main((self._images, self._gt, self._dt))
        if not is_main_process():
            return {}
        if len(parts) > 1:  # renumber the images (and annotations) of every rank after the previous ones
            images, gts, dts = [], [], []
            for p_images, p_gt, p_dt in parts:
                offset = len(images)
                images += [dict(im, id=im["id"] + offset) for im in p_images]
                gts += [dict(a, id=len(gts) + k + 1, image_id=a["image_id"] + offset) for k, a in enumerate(p_gt)]
                dts += [dict(d, image_id=d["image_id"] + offset) for d in p_dt]
            self._images, self._gt, self._dt = images, gts, dts
        nan = float("nan")
        if not self._images or not self._gt:
            logger.warning("COCODetectionEvaluator: no ground-truth boxes were processed; metrics are NaN")
            return {"bbox": {"mAP@0.5": nan, "mAP@0.75": nan, "mAP@[.5:.95]": nan}}
        if not self._dt:
            return {"bbox": {"mAP@0.5": 0.0, "mAP@0.75": 0.0, "mAP@[.5:.95]": 0.0}}
        names = self.class_names
        cats = [
            {"id": c, "name": names[c] if names and c < len(names) else str(c)} for c in self._categories()
        ]
        known = {c["id"] for c in cats}
        bad = sorted({a["category_id"] for a in self._gt + self._dt} - known)
        if bad:
            raise ValueError(f"COCODetectionEvaluator: labels {bad} outside the categories 1..{len(known)}")
        pycoco_log = io.StringIO()
        with contextlib.redirect_stdout(pycoco_log):
            gt = COCO()
            gt.dataset = {"images": self._images, "annotations": self._gt, "categories": cats}
            gt.createIndex()
            dt = gt.loadRes([dict(d) for d in self._dt])
            ev = COCOeval(gt, dt, iouType="bbox")
            ev.params.maxDets = [1, 10, self.max_dets]
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        logger.debug("pycocotools output:\n%s", pycoco_log.getvalue())
        stats = ev.stats  # [AP, AP50, AP75, ...] with AP at maxDets=max_dets
        res = {"mAP@0.5": float(stats[1]), "mAP@0.75": float(stats[2]), "mAP@[.5:.95]": float(stats[0])}
        res = {k: (nan if v < 0 else v) for k, v in res.items()}  # pycocotools writes -1 when undefined
        logger.info(
            "bbox: mAP@0.5 %.4f  mAP@0.75 %.4f  mAP@[.5:.95] %.4f  (%d images)",
            res["mAP@0.5"],
            res["mAP@0.75"],
            res["mAP@[.5:.95]"],
            len(self._images),
        )
        return {"bbox": res}
