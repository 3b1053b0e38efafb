"""``SceneGraphPredictor``: one trained model applied to one arbitrary RGB image at a time.

Like detectron2's ``DefaultPredictor``: build the model from a config, load ``MODEL.WEIGHTS``,
resize the image with the test-time ``INPUT.MIN_SIZE_TEST`` / ``MAX_SIZE_TEST`` rule and return a
:class:`SceneGraphPrediction` in the image's original pixels::

    predictor = SceneGraphPredictor(cfg)
    graph = predictor("kitchen.jpg")                                  # sgdet: detected objects
    graph = predictor(image, boxes=[[10, 20, 50, 80], [40, 30, 90, 99]])            # sgcls
    graph = predictor(image, boxes=[[10, 20, 50, 80], [40, 30, 90, 99]], labels=["cup", "table"])  # predcls

The task follows the arguments (boxes + labels: predcls, boxes: sgcls, nothing: sgdet), whatever
the config's ``USE_GT_BOX`` / ``USE_GT_OBJECT_LABEL`` say (``SceneGraphRCNN.use_mode``).

Class names (and the dataset statistics some heads are built with) come from the metadata of the
first ``DATASETS.TRAIN`` (else ``DATASETS.TEST``) split, registered from ``DATASETS.ROOT`` when
needed, or from the ``metadata`` argument: the training dataset's annotation files must be
present, as for training.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..structures.image_sample import ImageSample
from ..structures.scene_graph import SceneGraphPrediction, SceneGraphRecord

__all__ = ["SceneGraphPredictor", "load_rgb_image", "metadata_from_config"]

logger = logging.getLogger(__name__)


def load_rgb_image(image: Any) -> Image.Image:
    """A PIL RGB image from a path, a PIL image or an (H, W[, 3|4]) uint8 array (RGB order)."""
    if isinstance(image, (str, os.PathLike)):
        try:
            with Image.open(image) as im:
                return im.convert("RGB")
        except (OSError, ValueError) as e:
            raise ValueError(f"{image}: cannot read the image ({e})") from None
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    array = np.asarray(image)
    if (
        array.dtype != np.uint8
        or array.ndim not in (2, 3)
        or (array.ndim == 3 and array.shape[2] not in (3, 4))
    ):
        raise ValueError(
            f"image: expected a path, a PIL image or a uint8 array (H, W), (H, W, 3) or (H, W, 4) "
            f"in RGB order; "
            f"got {type(image).__name__} with dtype {array.dtype} and shape {array.shape}"
        )
    return Image.fromarray(array).convert("RGB")


def metadata_from_config(cfg):
    """Metadata of the first ``DATASETS.TRAIN`` (else ``DATASETS.TEST``) split, registered if needed."""
    from ..data.build import register_datasets_from_config
    from ..data.catalog import MetadataCatalog

    names = tuple(cfg.DATASETS.TRAIN) or tuple(cfg.DATASETS.TEST)
    if not names:
        raise ValueError(
            "DATASETS.TRAIN and DATASETS.TEST are empty: the predictor needs the training dataset's "
            "class names; set DATASETS.TRAIN or pass metadata="
        )
    register_datasets_from_config(cfg, names[:1])
    return MetadataCatalog.get(names[0])


class SceneGraphPredictor:
    """Build a model from ``cfg``, load ``cfg.MODEL.WEIGHTS``, predict scene graphs of single images.

    Args:
        cfg: the model's config (``MODEL.WEIGHTS`` = trained checkpoint; without it the weights stay
            random, with a warning).
        metadata: the training dataset's ``DatasetMetadata`` (default: :func:`metadata_from_config`).

    Attributes:
        model, metadata, object_classes, predicate_classes, min_size, max_size.
    """

    def __init__(self, cfg, metadata=None) -> None:
        from ..modeling.build import build_model
        from .checkpoint import SGGCheckpointer

        self.cfg = cfg.clone()
        self.metadata = metadata if metadata is not None else metadata_from_config(cfg)
        self.object_classes = list(self.metadata.object_classes)
        self.predicate_classes = list(self.metadata.predicate_classes)
        self.model = build_model(self.cfg, self.metadata)
        if not hasattr(self.model, "use_mode"):
            raise TypeError(
                f"{type(self.model).__name__} has no use_mode(); the predictor needs SceneGraphRCNN"
            )
        self.model.eval()
        if cfg.MODEL.WEIGHTS:
            SGGCheckpointer(self.model, save_to_disk=False).load(cfg.MODEL.WEIGHTS, checkpointables=[])
        else:
            logger.warning("MODEL.WEIGHTS is empty: the predictor runs with untrained weights")
        self.min_size = int(cfg.INPUT.MIN_SIZE_TEST)
        self.max_size = int(cfg.INPUT.MAX_SIZE_TEST)
        self._label_ids = {name: i for i, name in enumerate(self.object_classes) if i > 0}

    # ------------------------------------------------------------------ inputs
    def label_ids(self, labels: Sequence[Any], where: str = "labels") -> np.ndarray:
        """Class names or ids (1..C_obj-1) -> (N,) int64 ids; unknown names/ids raise, naming ``where``."""
        out = []
        for i, label in enumerate(labels):
            if isinstance(label, str):
                if label not in self._label_ids:
                    import difflib

                    close = difflib.get_close_matches(label, list(self._label_ids), n=3)
                    hint = f"; did you mean {close}?" if close else ""
                    raise ValueError(
                        f"{where}[{i}]: unknown object class {label!r}{hint} "
                        f"({len(self._label_ids)} classes of {self.metadata.name})"
                    )
                out.append(self._label_ids[label])
            elif isinstance(label, (int, np.integer)) and not isinstance(label, bool):
                if not 1 <= int(label) < len(self.object_classes):
                    raise ValueError(
                        f"{where}[{i}]: class id {label} outside 1..{len(self.object_classes) - 1}"
                    )
                out.append(int(label))
            else:
                raise ValueError(f"{where}[{i}]: expected a class name or an integer id, got {label!r}")
        return np.asarray(out, dtype=np.int64).reshape(-1)

    @staticmethod
    def check_boxes(boxes: Any, width: int, height: int, where: str = "boxes") -> np.ndarray:
        """(N, 4) float32 x1, y1, x2, y2 inside the ``width`` x ``height`` image with x1 < x2, y1 < y2."""
        try:
            arr = np.asarray(boxes, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: expected a list of [x1, y1, x2, y2] boxes of numbers") from None
        if arr.ndim != 2 or arr.shape[1] != 4 or len(arr) == 0:
            raise ValueError(f"{where}: expected at least one [x1, y1, x2, y2] box, got shape {arr.shape}")
        for i, (x1, y1, x2, y2) in enumerate(arr):
            if not np.isfinite([x1, y1, x2, y2]).all():
                raise ValueError(f"{where}[{i}]: non-finite coordinate in {[x1, y1, x2, y2]}")
            if not (x1 < x2 and y1 < y2):
                raise ValueError(f"{where}[{i}]: expected x1 < x2 and y1 < y2, got {[x1, y1, x2, y2]}")
            if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
                raise ValueError(
                    f"{where}[{i}]: box {[x1, y1, x2, y2]} lies outside the image "
                    f"(width {width}, height {height}; pixel coordinates of the original image)"
                )
        return arr.astype(np.float32)

    def prepare(
        self,
        image: Any,
        boxes: Any = None,
        labels: Sequence[Any] | None = None,
        file_name: str = "image",
        image_id: int = 0,
    ) -> tuple[ImageSample, str]:
        """The model input for one image and the task it implies (``predcls`` | ``sgcls`` | ``sgdet``)."""
        from ..data.mapper import resized_shape

        pil = load_rgb_image(image)
        width, height = pil.size
        if boxes is None:
            if labels is not None:
                raise ValueError(f"{file_name}: labels given without boxes")
            box_arr, label_arr, task = np.zeros((0, 4), np.float32), np.zeros(0, np.int64), "sgdet"
        else:
            box_arr = self.check_boxes(boxes, width, height, where=f"{file_name}: boxes")
            if labels is None:
                label_arr, task = np.zeros(len(box_arr), np.int64), "sgcls"  # 0: unknown class
            else:
                if len(labels) != len(box_arr):
                    raise ValueError(f"{file_name}: {len(box_arr)} boxes but {len(labels)} labels")
                label_arr, task = self.label_ids(labels, where=f"{file_name}: labels"), "predcls"
        record = SceneGraphRecord(
            image_id=int(image_id),
            file_name=str(file_name),
            width=width,
            height=height,
            boxes=box_arr,
            labels=label_arr,
            relations=np.zeros((0, 3), np.int64),
            image_path=str(image) if isinstance(image, (str, os.PathLike)) else None,
        )
        new_h, new_w = resized_shape(height, width, self.min_size, self.max_size, self.cfg.INPUT.RESIZE_RULE)
        if (new_w, new_h) != (width, height):
            pil = pil.resize((new_w, new_h), Image.BILINEAR)
        sx, sy = new_w / float(width), new_h / float(height)
        pixels = np.asarray(pil, dtype=np.float32) / 255.0
        sample = ImageSample(
            image=torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))),
            record=record,
            gt_boxes=torch.from_numpy(box_arr * np.array([sx, sy, sx, sy], dtype=np.float32)).reshape(-1, 4),
            gt_labels=torch.from_numpy(label_arr),
            gt_relations=torch.zeros((0, 3), dtype=torch.int64),
            scale=(sx, sy),
        )
        return sample, task

    # ------------------------------------------------------------------ predicting
    def __call__(
        self,
        image: Any,
        boxes: Any = None,
        labels: Sequence[Any] | None = None,
        task: str | None = None,
        file_name: str = "image",
        image_id: int = 0,
    ) -> SceneGraphPrediction:
        """The scene graph of ``image`` (path, PIL image or RGB uint8 array), in its original pixels.

        Args:
            boxes: optional (N, 4) x1, y1, x2, y2 boxes in original pixels.
            labels: optional class names or ids (1..C_obj-1) of the boxes.
            task: force ``sgcls`` when boxes and labels are given (labels ignored); otherwise it must
                match the task the arguments imply.
        """
        sample, implied = self.prepare(image, boxes, labels, file_name, image_id)
        task = self.resolve_task(implied, task, file_name)
        with torch.no_grad(), self.model.use_mode(task):
            (prediction,) = self.model([sample])
        return prediction

    @staticmethod
    def resolve_task(implied: str, requested: str | None, where: str = "image") -> str:
        """``requested`` if compatible with the inputs (predcls inputs may run as sgcls), else an error."""
        if requested is None or requested == implied:
            return implied
        if requested == "sgcls" and implied == "predcls":
            return "sgcls"
        needs = {"predcls": "boxes with a label for every box", "sgcls": "boxes", "sgdet": "no boxes"}
        raise ValueError(
            f"{where}: task {requested} needs {needs[requested]}, but the input implies {implied}"
        )
