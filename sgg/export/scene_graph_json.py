"""Scene-graph JSON export and import (format ``sgg-scene-graphs`` version 1, design.md section 5).

Writing::

    with SceneGraphWriter("scene_graphs.json", object_classes=..., predicate_classes=...,
                          mode="predcls", dataset="toy_test", model_meta={"head": "creal"}) as writer:
        for record, prediction in zip(records, predictions):
            writer.add(record, prediction)        # streamed to a temp file, image by image

or in one call ``write_scene_graphs(path, [(record, prediction), ...], ...)``. The file appears
atomically when the writer closes; an existing file is only replaced with ``overwrite=True``.

Reading: ``read_scene_graphs(path) -> ScenesFile`` validates the file against ``schema.json`` and
checks what a schema cannot (finite numbers, box corners, indices, class names and ids, number of
predicate scores), naming the file, image and field of every problem.
"""
from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import (
    Any,
    NamedTuple,
)

import jsonschema
import numpy as np

from sgg import __version__ as SGG_VERSION
from sgg.structures.scene_graph import SceneGraphPrediction

from .atomic import AtomicFile
from .fast_schema import compile_schema

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ExportOptions",
    "ImageInfo",
    "SceneGraphFileError",
    "SceneGraphWriter",
    "ScenesFile",
    "ScenesImage",
    "filter_prediction",
    "image_to_json",
    "load_schema",
    "read_scene_graphs",
    "write_scene_graphs",
]

FORMAT_NAME = "sgg-scene-graphs"
FORMAT_VERSION = 1
MODES = ("predcls", "sgcls", "sgdet")


class SceneGraphFileError(ValueError):
    """A scene-graph file is malformed; the message names the file, image and field."""


@lru_cache(maxsize=1)
def load_schema() -> dict:
    """The JSON Schema (draft 2020-12) of the format, shipped as ``sgg/export/schema.json``."""
    return json.loads(resources.files("sgg.export").joinpath("schema.json").read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- containers


@dataclass(frozen=True)
class ImageInfo:
    """Identity and size of one image (original pixels)."""

    file_name: str
    image_id: int
    width: int
    height: int

    @classmethod
    def from_any(cls, info: Any) -> ImageInfo:
        """Build from an ``ImageInfo``, a ``SceneGraphRecord``-like object or a dict with the four fields."""
        if isinstance(info, ImageInfo):
            return info
        get = info.get if isinstance(info, Mapping) else lambda k: getattr(info, k, None)
        values = {k: get(k) for k in ("file_name", "image_id", "width", "height")}
        missing = [k for k, v in values.items() if v is None]
        if missing:
            raise ValueError(f"image info {info!r}: missing field(s) {missing}")
        return cls(str(values["file_name"]), int(values["image_id"]), int(values["width"]), int(values["height"]))


class ScenesImage(NamedTuple):
    """One image of a scene-graph file: ``(info, prediction)``."""

    info: ImageInfo
    prediction: SceneGraphPrediction


@dataclass
class ScenesFile:
    """Contents of a scene-graph file.

    Attributes:
        path: the file read.
        version: format version.
        mode: ``predcls`` | ``sgcls`` | ``sgdet``.
        dataset: dataset name.
        model: model metadata (head, config sha256, ...).
        meta: export options and toolkit version.
        object_classes, predicate_classes: class names, ``__background__`` at index 0.
        images: ``file_name -> ScenesImage(info, prediction)`` in file order.
        raw_images: ``file_name -> image entry`` as stored in the file (names, extras as JSON values).
    """

    path: str
    version: int
    mode: str
    dataset: str
    model: dict[str, Any]
    meta: dict[str, Any]
    object_classes: list[str]
    predicate_classes: list[str]
    images: dict[str, ScenesImage] = field(default_factory=dict)
    raw_images: dict[str, dict] = field(default_factory=dict, repr=False)

    @property
    def predictions(self) -> dict[str, SceneGraphPrediction]:
        """``file_name -> SceneGraphPrediction``."""
        return {name: entry.prediction for name, entry in self.images.items()}

    def __len__(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class ExportOptions:
    """What to keep of each prediction.

    Attributes:
        topk_objects: keep the k highest-scoring objects (-1: all); relations touching a dropped
            object are dropped and object ids renumbered 0..n-1 in their original order.
        topk_relations: keep the first k relations in rank order (-1: all), after the filters.
        score_threshold_objects: drop objects with score below this.
        score_threshold_relations: drop relations whose predicate probability is below this.
        full_scores: write ``predicate_scores`` (all predicate classes) per relation.
        extras_vocab: ``extras key -> names``; integer values of that extra (e.g. hierarchy path ids)
            are written as the names they index.
    """

    topk_objects: int = -1
    topk_relations: int = -1
    score_threshold_objects: float = 0.0
    score_threshold_relations: float = 0.0
    full_scores: bool = False
    extras_vocab: Mapping[str, Sequence[str]] | None = None

    def as_meta(self) -> dict:
        return {
            "topk_objects": self.topk_objects,
            "topk_relations": self.topk_relations,
            "score_threshold_objects": self.score_threshold_objects,
            "score_threshold_relations": self.score_threshold_relations,
            "full_scores": self.full_scores,
        }


# ----------------------------------------------------------------------------- prediction -> JSON


def _json_value(value: Any, where: str, vocab: Sequence[str] | None = None) -> Any:
    """numpy / python value -> JSON-compatible value; integer ids mapped through ``vocab`` if given."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (list, tuple)):
        return [_json_value(v, where, vocab) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        if vocab is not None:
            if not 0 <= value < len(vocab):
                raise ValueError(f"{where}: id {value} outside the {len(vocab)} names given in extras_vocab")
            return vocab[value]
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: non-finite value {value}")
        return value
    if isinstance(value, Mapping):
        return {str(k): _json_value(v, f"{where}.{k}", vocab) for k, v in value.items()}
    raise TypeError(f"{where}: cannot write a value of type {type(value).__name__} to JSON")


def _check_finite(name: str, array: np.ndarray, where: str) -> None:
    if array.size and not np.isfinite(array).all():
        row = int(np.argwhere(~np.isfinite(array.reshape(len(array), -1)))[0, 0])
        raise ValueError(f"{where}: {name}[{row}] is not finite")


def filter_prediction(prediction: SceneGraphPrediction, options: ExportOptions) -> SceneGraphPrediction:
    """The part of ``prediction`` kept by ``options`` (top-k and score thresholds), as a new prediction.

    Objects: those scoring at least ``score_threshold_objects``, then the ``topk_objects`` best
    (ties: the earlier object), renumbered 0..n-1 in their original order. Relations: those whose
    two objects are kept and whose predicate probability is at least ``score_threshold_relations``,
    in rank order, then the first ``topk_relations``. ``extras`` / ``obj_extras`` rows follow their
    relations / objects. This is what the JSON file and the HDF5 export of ``tools/export.py`` store.
    """
    pred = prediction
    keep = np.flatnonzero(pred.scores >= options.score_threshold_objects)
    if options.topk_objects >= 0 and len(keep) > options.topk_objects:
        best = np.argsort(-pred.scores[keep], kind="stable")[: options.topk_objects]
        keep = np.sort(keep[best])
    new_id = np.full(pred.num_objects, -1, dtype=np.int64)
    new_id[keep] = np.arange(len(keep))
    pairs = pred.rel_pair_idxs
    if len(pairs):
        ok = (new_id[pairs[:, 0]] >= 0) & (new_id[pairs[:, 1]] >= 0)
        rel_keep = np.flatnonzero(ok & (pred.rel_label_scores >= options.score_threshold_relations))
    else:
        rel_keep = np.zeros(0, dtype=np.int64)
    if options.topk_relations >= 0:
        rel_keep = rel_keep[: options.topk_relations]
    return SceneGraphPrediction(
        boxes=pred.boxes[keep],
        labels=pred.labels[keep],
        scores=pred.scores[keep],
        rel_pair_idxs=new_id[pairs[rel_keep]].reshape(-1, 2),
        rel_scores=None if pred.rel_scores is None else pred.rel_scores[rel_keep],
        rel_labels=pred.rel_labels[rel_keep],
        rel_label_scores=pred.rel_label_scores[rel_keep],
        extras={k: np.asarray(v)[rel_keep] for k, v in pred.extras.items()},
        obj_extras={k: np.asarray(v)[keep] for k, v in pred.obj_extras.items()},
    )


def image_to_json(
    info: Any,
    prediction: SceneGraphPrediction,
    object_classes: Sequence[str],
    predicate_classes: Sequence[str],
    options: ExportOptions | None = None,
) -> dict:
    """One image entry of the file (a plain dict), applying top-k / thresholds of ``options``."""
    options = options or ExportOptions()
    info = ImageInfo.from_any(info)
    where = f"image '{info.file_name}'"
    pred = prediction
    n_obj_cls, n_rel_cls = len(object_classes), len(predicate_classes)
    _check_finite("boxes", pred.boxes, where)
    _check_finite("scores", pred.scores, where)
    _check_finite("rel_label_scores", pred.rel_label_scores, where)
    if options.full_scores:
        if pred.rel_scores is None:
            raise ValueError(f"{where}: full_scores=True but the prediction has no rel_scores")
        if pred.rel_scores.shape[1] != n_rel_cls:
            raise ValueError(
                f"{where}: rel_scores has {pred.rel_scores.shape[1]} columns, predicate_classes {n_rel_cls}"
            )
        _check_finite("rel_scores", pred.rel_scores, where)

    if len(pred.labels) and (pred.labels.min() < 1 or pred.labels.max() >= n_obj_cls):
        raise ValueError(f"{where}: object labels must be in 1..{n_obj_cls - 1} (object_classes has {n_obj_cls})")
    if len(pred.rel_labels) and (pred.rel_labels.min() < 1 or pred.rel_labels.max() >= n_rel_cls):
        raise ValueError(f"{where}: rel_labels must be in 1..{n_rel_cls - 1} (predicate_classes has {n_rel_cls})")
    vocab = options.extras_vocab or {}
    for kind, extras, count in (("extras", pred.extras, pred.num_relations), ("obj_extras", pred.obj_extras, pred.num_objects)):
        for key, values in extras.items():
            if len(values) != count:
                raise ValueError(f"{where}: {kind}['{key}'] has {len(values)} rows, expected {count}")
    pred = filter_prediction(pred, options)

    objects = []
    for i in range(pred.num_objects):
        obj = {
            "id": i,
            "box": pred.boxes[i].tolist(),
            "label": object_classes[int(pred.labels[i])],
            "label_id": int(pred.labels[i]),
            "score": float(pred.scores[i]),
        }
        if pred.obj_extras:
            obj["extras"] = {
                k: _json_value(v[i], f"{where} objects[{i}].extras.{k}", vocab.get(k))
                for k, v in pred.obj_extras.items()
            }
        objects.append(obj)

    triplet = pred.triplet_scores()
    relations = []
    for r in range(pred.num_relations):
        s, o = pred.rel_pair_idxs[r]
        label = int(pred.rel_labels[r])
        rel = {
            "subject": int(s),
            "object": int(o),
            "predicate": predicate_classes[label],
            "predicate_id": label,
            "score": float(pred.rel_label_scores[r]),
            "triplet_score": float(triplet[r]),
        }
        if options.full_scores:
            rel["predicate_scores"] = pred.rel_scores[r].tolist()
        if pred.extras:
            rel["extras"] = {
                k: _json_value(v[r], f"{where} relations[{r}].extras.{k}", vocab.get(k))
                for k, v in pred.extras.items()
            }
        relations.append(rel)
    return {
        "image_id": info.image_id,
        "file_name": info.file_name,
        "width": info.width,
        "height": info.height,
        "objects": objects,
        "relations": relations,
    }


# ----------------------------------------------------------------------------- writer


class SceneGraphWriter:
    """Streams images into a scene-graph file; the file appears atomically on :meth:`close`.

    Use as a context manager (an exception inside the block discards the temp file and leaves any
    existing file untouched), or call :meth:`add` then :meth:`close` / :meth:`abort` yourself.

    Args:
        path: output ``.json`` path.
        object_classes, predicate_classes: class names with ``__background__`` at index 0.
        mode: ``predcls`` | ``sgcls`` | ``sgdet``.
        dataset: dataset name written to the file.
        model_meta: model description (head name, config sha256, auxiliary heads, curvature, ...).
        meta: extra entries for the ``meta`` block.
        overwrite: replace an existing file.
        options: an :class:`ExportOptions`, or its fields as keyword arguments.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        object_classes: Sequence[str],
        predicate_classes: Sequence[str],
        mode: str,
        dataset: str,
        model_meta: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
        overwrite: bool = False,
        options: ExportOptions | None = None,
        **option_fields: Any,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
        for name, classes in (("object_classes", object_classes), ("predicate_classes", predicate_classes)):
            if len(classes) < 2 or classes[0] != "__background__":
                raise ValueError(f"{name}: expected '__background__' at index 0 and at least one class")
        self.options = options if options is not None else ExportOptions(**option_fields)
        self.object_classes = [str(c) for c in object_classes]
        self.predicate_classes = [str(c) for c in predicate_classes]
        header = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "mode": mode,
            "dataset": str(dataset),
            "model": _json_value(dict(model_meta or {}), "model_meta"),
            "meta": _json_value(
                {"protocol": mode, "toolkit": "sgg", "toolkit_version": SGG_VERSION,
                 "export": self.options.as_meta(), **dict(meta or {})},
                "meta",
            ),
            "object_classes": self.object_classes,
            "predicate_classes": self.predicate_classes,
        }
        self._file = AtomicFile(path, overwrite=overwrite)
        self.path = self._file.path
        self._seen: set = set()
        text = json.dumps(header, allow_nan=False)
        self._file.file.write(text[:-1] + ', "images": [')

    def add(self, info: Any, prediction: SceneGraphPrediction) -> dict:
        """Convert and append one image; returns the entry written."""
        if self._file.temp_path is None:
            raise RuntimeError(f"{self.path}: writer already closed")
        entry = image_to_json(info, prediction, self.object_classes, self.predicate_classes, self.options)
        if entry["file_name"] in self._seen:
            raise ValueError(f"image '{entry['file_name']}': file_name appears twice (the file is keyed by it)")
        text = json.dumps(entry, allow_nan=False)
        self._file.file.write(("\n" if not self._seen else ",\n") + text)
        self._seen.add(entry["file_name"])
        return entry

    def __len__(self) -> int:
        return len(self._seen)

    def close(self) -> Path:
        """Finish the JSON and move it into place."""
        self._file.file.write("\n]}\n")
        return self._file.commit()

    def abort(self) -> None:
        """Discard everything written so far."""
        self._file.abort()

    def __enter__(self) -> SceneGraphWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_scene_graphs(
    path: str | os.PathLike,
    images: Mapping[str, tuple[Any, SceneGraphPrediction]] | Iterable[tuple[Any, SceneGraphPrediction]],
    *,
    object_classes: Sequence[str],
    predicate_classes: Sequence[str],
    mode: str,
    dataset: str,
    model_meta: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
    topk_objects: int = -1,
    topk_relations: int = -1,
    score_threshold_objects: float = 0.0,
    score_threshold_relations: float = 0.0,
    full_scores: bool = False,
    extras_vocab: Mapping[str, Sequence[str]] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``images`` (pairs of image info and prediction, or a ``file_name -> pair`` mapping) atomically.

    See :class:`ExportOptions` for the filtering arguments and :class:`SceneGraphWriter` for the rest.
    """
    pairs = images.values() if isinstance(images, Mapping) else images
    options = ExportOptions(
        topk_objects=topk_objects,
        topk_relations=topk_relations,
        score_threshold_objects=score_threshold_objects,
        score_threshold_relations=score_threshold_relations,
        full_scores=full_scores,
        extras_vocab=extras_vocab,
    )
    with SceneGraphWriter(
        path, object_classes=object_classes, predicate_classes=predicate_classes, mode=mode, dataset=dataset,
        model_meta=model_meta, meta=meta, overwrite=overwrite, options=options,
    ) as writer:
        for info, prediction in pairs:
            writer.add(info, prediction)
    return writer.path


# ----------------------------------------------------------------------------- reader


class _SchemaCheck(NamedTuple):
    validator: Any  # jsonschema validator: precise messages, slow
    is_valid: Callable[[Any], bool]  # compiled yes/no check of the same schema, fast


@lru_cache(maxsize=1)
def _validators() -> tuple[_SchemaCheck, _SchemaCheck]:
    """(top level without images, one image). Predicate-score lists are type-checked with numpy."""
    schema = load_schema()
    top = copy.deepcopy(schema)
    top["properties"]["images"] = {"type": "array"}
    image = {"$schema": schema["$schema"], "$defs": copy.deepcopy(schema["$defs"]), "$ref": "#/$defs/image"}
    image["$defs"]["relation"]["properties"]["predicate_scores"] = {"type": "array"}
    cls = jsonschema.Draft202012Validator
    return _SchemaCheck(cls(top), compile_schema(top)), _SchemaCheck(cls(image), compile_schema(image))


def _location(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _schema_check(check: _SchemaCheck, document: Any, where: str, prefix: str = "") -> None:
    if check.is_valid(document):
        return
    error = jsonschema.exceptions.best_match(check.validator.iter_errors(document))
    if error is None:
        raise SceneGraphFileError(f"{where}: does not satisfy the scene-graph schema")
    field_name = prefix + _location(error.absolute_path)
    raise SceneGraphFileError(f"{where}: field '{field_name}': {error.message}")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_image(entry: dict, index: int, path: str, obj_classes: list[str], pred_classes: list[str]) -> None:
    where = f"{path}: image '{entry['file_name']}' (images[{index}])"
    objects, relations = entry["objects"], entry["relations"]
    for i, obj in enumerate(objects):
        field_name = f"objects[{i}]"
        if obj["id"] != i:
            raise SceneGraphFileError(f"{where}: {field_name}.id is {obj['id']}, expected {i} (ids are list positions)")
        box = obj["box"]
        if not all(_finite(v) for v in box):
            raise SceneGraphFileError(f"{where}: {field_name}.box {box} has a non-finite value")
        if box[2] < box[0] or box[3] < box[1]:
            raise SceneGraphFileError(f"{where}: {field_name}.box {box} has x2 < x1 or y2 < y1 (expected x1,y1,x2,y2)")
        if not _finite(obj["score"]):
            raise SceneGraphFileError(f"{where}: {field_name}.score is {obj['score']}, expected a finite number")
        if obj["label_id"] >= len(obj_classes) or obj_classes[obj["label_id"]] != obj["label"]:
            raise SceneGraphFileError(
                f"{where}: {field_name}: label {obj['label']!r} / label_id {obj['label_id']} do not match "
                f"object_classes ({len(obj_classes)} classes)"
            )
    with_scores = sum("predicate_scores" in rel for rel in relations)
    if 0 < with_scores < len(relations):
        raise SceneGraphFileError(f"{where}: predicate_scores present on {with_scores} of {len(relations)} relations")
    for r, rel in enumerate(relations):
        field_name = f"relations[{r}]"
        for end in ("subject", "object"):
            if rel[end] >= len(objects):
                raise SceneGraphFileError(
                    f"{where}: {field_name}.{end} is {rel[end]}, but the image has {len(objects)} objects"
                )
        for key in ("score", "triplet_score"):
            if key in rel and not _finite(rel[key]):
                raise SceneGraphFileError(f"{where}: {field_name}.{key} is {rel[key]}, expected a finite number")
        if rel["predicate_id"] >= len(pred_classes) or pred_classes[rel["predicate_id"]] != rel["predicate"]:
            raise SceneGraphFileError(
                f"{where}: {field_name}: predicate {rel['predicate']!r} / predicate_id {rel['predicate_id']} do "
                f"not match predicate_classes ({len(pred_classes)} classes)"
            )
        if "predicate_scores" in rel:
            scores = rel["predicate_scores"]
            if len(scores) != len(pred_classes):
                raise SceneGraphFileError(
                    f"{where}: {field_name}.predicate_scores has {len(scores)} values, expected "
                    f"{len(pred_classes)} (one per predicate class incl. __background__)"
                )
            try:
                values = np.asarray(scores, dtype=np.float64)
            except (TypeError, ValueError):
                values = np.array([np.nan])
            if values.ndim != 1 or not np.isfinite(values).all():
                raise SceneGraphFileError(f"{where}: {field_name}.predicate_scores contains a non-number or non-finite value")


def _stack_extras(rows: list[dict]) -> dict[str, np.ndarray]:
    if not rows:
        return {}
    out: dict[str, np.ndarray] = {}
    for key in rows[0]:
        values = [row.get(key) for row in rows]
        try:
            array = np.asarray(values)
        except ValueError:  # ragged
            array = np.empty(len(values), dtype=object)
            array[:] = values
        out[key] = array
    return out


def _prediction_from_json(entry: dict) -> SceneGraphPrediction:
    objects, relations = entry["objects"], entry["relations"]
    full = bool(relations) and "predicate_scores" in relations[0]
    obj_extras = _stack_extras([o.get("extras", {}) for o in objects]) if any("extras" in o for o in objects) else {}
    rel_extras = _stack_extras([r.get("extras", {}) for r in relations]) if any("extras" in r for r in relations) else {}
    return SceneGraphPrediction(
        boxes=np.array([o["box"] for o in objects], dtype=np.float32).reshape(-1, 4),
        labels=np.array([o["label_id"] for o in objects], dtype=np.int64),
        scores=np.array([o["score"] for o in objects], dtype=np.float32),
        rel_pair_idxs=np.array([[r["subject"], r["object"]] for r in relations], dtype=np.int64).reshape(-1, 2),
        rel_scores=np.array([r["predicate_scores"] for r in relations], dtype=np.float32) if full else None,
        rel_labels=np.array([r["predicate_id"] for r in relations], dtype=np.int64),
        rel_label_scores=np.array([r["score"] for r in relations], dtype=np.float32),
        extras=rel_extras,
        obj_extras=obj_extras,
    )


def read_scene_graphs(path: str | os.PathLike) -> ScenesFile:
    """Read and validate a scene-graph file; raises :class:`SceneGraphFileError` on any problem."""
    path = str(path)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SceneGraphFileError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise SceneGraphFileError(f"{path}: field 'format' is {found!r}, expected '{FORMAT_NAME}'")
    if data.get("version") != FORMAT_VERSION:
        raise SceneGraphFileError(
            f"{path}: field 'version' is {data.get('version')!r}; this toolkit reads version {FORMAT_VERSION} "
            f"of '{FORMAT_NAME}' (unknown version)"
        )
    top_validator, image_validator = _validators()
    _schema_check(top_validator, data, path)
    obj_classes, pred_classes = data["object_classes"], data["predicate_classes"]
    result = ScenesFile(
        path=path,
        version=data["version"],
        mode=data["mode"],
        dataset=data["dataset"],
        model=data["model"],
        meta=data.get("meta", {}),
        object_classes=obj_classes,
        predicate_classes=pred_classes,
    )
    for index, entry in enumerate(data["images"]):
        name = entry.get("file_name") if isinstance(entry, dict) else None
        _schema_check(image_validator, entry, f"{path}: image {name!r} (images[{index}])")
        if name in result.images:
            raise SceneGraphFileError(f"{path}: image '{name}' (images[{index}]): file_name appears twice")
        _check_image(entry, index, path, obj_classes, pred_classes)
        result.images[name] = ScenesImage(ImageInfo.from_any(entry), _prediction_from_json(entry))
        result.raw_images[name] = entry
    return result
