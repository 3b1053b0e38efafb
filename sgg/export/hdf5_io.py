"""Binary scene-graph predictions file (HDF5), written and read one image at a time.

The JSON export (design.md section 5) is the readable interchange format; this file is
its compact binary sibling for full test sets (e.g. VG-150 sgdet: 26k images, thousands
of pairs x 51 predicate scores each). Pair it with :func:`sgg.export.compact.compact_prediction`
to keep only the rows any metric can read.

Layout (format ``"sgg-scene-graphs-h5"``, version 1)::

    /                       attrs: format, version, mode, dataset, score_dtype,
                                   object_classes / predicate_classes (JSON lists),
                                   num_object_classes, num_predicate_classes, model (JSON)
    /index/file_names       (I,) utf-8 strings, insertion order
    /index/keys             (I,) utf-8 strings: the group name of each image
    /images/<key>/          attrs: file_name, image_id, width, height
        boxes (N, 4) float32, labels (N,) int32, scores (N,) float32,
        rel_pair_idxs (R, 2) int32 (rank order), rel_labels (R,) int32,
        rel_label_scores (R,) float32, rel_scores (R, C_rel) float32|float16 (optional),
        extras/<name> (R, ...), obj_extras/<name> (N, ...)

Group keys are running numbers (``"00000042"``): file names may contain ``/`` (HDF5's
path separator), so the name is stored as an attribute and in the index.
``float16`` scores halve the size but are approximate (~3 significant digits): rounding
can create ties, and tie order can then change no-graph-constraint / OI rankings.
Graph-constrained ranks are the stored row order and never change.
"""
from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from types import SimpleNamespace
from typing import Any, NamedTuple

import h5py
import numpy as np

from sgg.structures.scene_graph import SceneGraphPrediction
from sgg.utils.io import AtomicTarget

__all__ = ["HDF5_FORMAT", "HDF5_VERSION", "HDF5PredictionReader", "HDF5PredictionWriter", "ImageInfo"]

HDF5_FORMAT = "sgg-scene-graphs-h5"
HDF5_VERSION = 1
_SCORE_DTYPES = {"float32": np.float32, "float16": np.float16}
_REQUIRED = ("boxes", "labels", "scores", "rel_pair_idxs", "rel_labels", "rel_label_scores")


class ImageInfo(NamedTuple):
    """Identity of one image in a predictions file."""

    file_name: str
    image_id: int
    width: int
    height: int


def _image_info(info: Any) -> ImageInfo:
    """Accept an ImageInfo/tuple, a mapping or any object with the four attributes (SceneGraphRecord)."""
    if isinstance(info, tuple):
        fields = tuple(info)
    elif isinstance(info, Mapping):
        fields = tuple(info[k] for k in ImageInfo._fields)
    else:
        try:
            fields = tuple(getattr(info, k) for k in ImageInfo._fields)
        except AttributeError as e:
            raise TypeError(
                f"image_info must be (file_name, image_id, width, height), a mapping or a record with "
                f"these attributes; got {type(info).__name__}"
            ) from e
    if len(fields) != 4:
        raise TypeError(f"image_info must have 4 fields (file_name, image_id, width, height), got {len(fields)}")
    return ImageInfo(str(fields[0]), int(fields[1]), int(fields[2]), int(fields[3]))


def _write_array(group: h5py.Group, name: str, arr: np.ndarray, compression: str | None, level: int) -> None:
    arr = np.asarray(arr)
    if arr.dtype.kind == "U":
        ds = group.create_dataset(name, data=arr.astype(object), dtype=h5py.string_dtype())
        ds.attrs["kind"] = "str"
        return
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{group.name}/{name}: only numeric, bool or str arrays can be stored, got dtype {arr.dtype}")
    if compression and arr.size > 0:
        group.create_dataset(name, data=arr, compression=compression, compression_opts=level, shuffle=True)
    else:
        group.create_dataset(name, data=arr)


class HDF5PredictionWriter:
    """Write predictions image by image into an HDF5 file, atomically.

    Use as a context manager::

        with HDF5PredictionWriter("preds.h5", object_classes=..., predicate_classes=...,
                                  mode="sgdet", dataset="vg150_test", model_meta={"head": "motifs"}) as w:
            for record, pred in ...:
                w.add(record, compact_prediction(pred))

    Everything goes to a temporary file in the destination folder, renamed onto ``path``
    when the block ends normally; an exception discards it, so a half-written file never
    appears under ``path``.

    Args:
        path: destination file.
        object_classes, predicate_classes: names including ``"__background__"`` at 0.
        mode: ``predcls`` / ``sgcls`` / ``sgdet``.
        dataset: dataset name (e.g. ``"vg150_test"``).
        model_meta: JSON-serialisable description of the model (head, config hash...).
        score_dtype: ``"float32"`` (exact) or ``"float16"`` (approximate, half the size)
            for the predicate score matrices.
        compression: ``"gzip"`` (default), ``"lzf"`` or None for the per-relation arrays.
        compression_level: gzip level (default 4).
        overwrite: replace an existing ``path``; otherwise refuse.
        compact: store per image only the relation rows any metric can read
            (:func:`sgg.export.compact.compact_for_evaluation`; evaluation stays exact). In
            predcls / sgcls ``add`` then needs the GT pairs: pass the ``SceneGraphRecord`` as
            image info, or ``gt_pairs``. Recorded in the file attribute ``compact``.
    """

    def __init__(
        self,
        path: str,
        *,
        object_classes: Sequence[str],
        predicate_classes: Sequence[str],
        mode: str,
        dataset: str,
        model_meta: Mapping[str, Any] | None = None,
        score_dtype: str = "float32",
        compression: str | None = "gzip",
        compression_level: int = 4,
        overwrite: bool = False,
        compact: bool = False,
    ):
        if score_dtype not in _SCORE_DTYPES:
            raise ValueError(f"score_dtype must be one of {sorted(_SCORE_DTYPES)}, got {score_dtype!r}")
        if len(object_classes) < 2 or len(predicate_classes) < 2:
            raise ValueError("object_classes and predicate_classes must list '__background__' and at least one class")
        self.path = os.path.abspath(path)
        self.overwrite = overwrite
        self._check_destination()
        self.object_classes = [str(c) for c in object_classes]
        self.predicate_classes = [str(c) for c in predicate_classes]
        self.score_dtype = _SCORE_DTYPES[score_dtype]
        self.compression = compression
        self.compression_level = int(compression_level)
        self.mode = str(mode)
        self.compact = bool(compact)
        self._file_names: list[str] = []
        self._seen: dict[str, int] = {}
        self._target = AtomicTarget(self.path, overwrite=overwrite)
        self._h5: h5py.File | None = h5py.File(self._target.temp_path, "w")
        attrs = self._h5.attrs
        attrs["format"] = HDF5_FORMAT
        attrs["version"] = HDF5_VERSION
        attrs["mode"] = str(mode)
        attrs["dataset"] = str(dataset)
        attrs["score_dtype"] = score_dtype
        attrs["object_classes"] = json.dumps(self.object_classes)
        attrs["predicate_classes"] = json.dumps(self.predicate_classes)
        attrs["num_object_classes"] = len(self.object_classes)
        attrs["num_predicate_classes"] = len(self.predicate_classes)
        attrs["model"] = json.dumps(dict(model_meta or {}), sort_keys=True)
        attrs["compact"] = self.compact
        self._images = self._h5.create_group("images")

    def _check_destination(self) -> None:
        if os.path.exists(self.path) and not self.overwrite:
            raise FileExistsError(
                f"{self.path} already exists; pass overwrite=True to replace it (refusing to overwrite silently)"
            )

    def __enter__(self) -> HDF5PredictionWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __len__(self) -> int:
        return len(self._file_names)

    def add(self, image_info: Any, prediction: SceneGraphPrediction, gt_pairs: np.ndarray | None = None) -> None:
        """Append one image: ``image_info`` is (file_name, image_id, width, height) or a record.

        ``gt_pairs`` ((G, 2) GT subject/object indices) only matters with ``compact`` in
        predcls / sgcls, when ``image_info`` is not the ``SceneGraphRecord`` itself.
        """
        if self._h5 is None:
            raise RuntimeError(f"{self.path}: writer is closed")
        info = _image_info(image_info)
        where = f"{self.path}: image {info.file_name!r}"
        if info.file_name in self._seen:
            raise ValueError(f"{where}: added twice (file names must be unique)")
        pred = prediction
        if self.compact:
            from .compact import compact_for_evaluation

            gt = image_info
            if gt_pairs is not None:
                pairs = np.asarray(gt_pairs, dtype=np.int64).reshape(-1, 2)
                gt = SimpleNamespace(relations=np.concatenate([pairs, np.zeros((len(pairs), 1), np.int64)], 1))
            pred = compact_for_evaluation(pred, self.mode, gt, where=where)
        n_obj, n_rel = len(self.object_classes), len(self.predicate_classes)
        if len(pred.labels) and (pred.labels.min() < 0 or pred.labels.max() >= n_obj):
            raise ValueError(f"{where}: labels must lie in 0..{n_obj - 1} (object_classes has {n_obj} entries)")
        if len(pred.rel_labels) and (pred.rel_labels.min() < 0 or pred.rel_labels.max() >= n_rel):
            raise ValueError(f"{where}: rel_labels must lie in 0..{n_rel - 1} (predicate_classes has {n_rel} entries)")
        if pred.rel_scores is not None and pred.rel_scores.shape[1] != n_rel:
            raise ValueError(
                f"{where}: rel_scores has {pred.rel_scores.shape[1]} columns, expected {n_rel} (one per predicate class)"
            )
        key = f"{len(self._file_names):08d}"
        g = self._images.create_group(key)
        g.attrs["file_name"] = info.file_name
        g.attrs["image_id"] = info.image_id
        g.attrs["width"] = info.width
        g.attrs["height"] = info.height
        g.create_dataset("boxes", data=pred.boxes.astype(np.float32))
        g.create_dataset("labels", data=pred.labels.astype(np.int32))
        g.create_dataset("scores", data=pred.scores.astype(np.float32))
        g.create_dataset("rel_pair_idxs", data=pred.rel_pair_idxs.astype(np.int32))
        g.create_dataset("rel_labels", data=pred.rel_labels.astype(np.int32))
        g.create_dataset("rel_label_scores", data=pred.rel_label_scores.astype(np.float32))
        if pred.rel_scores is not None:
            _write_array(g, "rel_scores", pred.rel_scores.astype(self.score_dtype), self.compression,
                         self.compression_level)
        for group_name, arrays in (("extras", pred.extras), ("obj_extras", pred.obj_extras)):
            if arrays:
                sub = g.create_group(group_name)
                for name, arr in arrays.items():
                    _write_array(sub, name, arr, self.compression, self.compression_level)
        self._seen[info.file_name] = len(self._file_names)
        self._file_names.append(info.file_name)

    def close(self) -> str:
        """Write the index, close, and move the file into place. Returns the final path."""
        if self._h5 is None:
            return self.path
        try:
            index = self._h5.create_group("index")
            str_dt = h5py.string_dtype()
            index.create_dataset("file_names", data=np.array(self._file_names, dtype=object), dtype=str_dt)
            keys = [f"{i:08d}" for i in range(len(self._file_names))]
            index.create_dataset("keys", data=np.array(keys, dtype=object), dtype=str_dt)
            self._h5.close()
            self._h5 = None
            self._check_destination()  # the destination may have appeared meanwhile
            self._target.commit()
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Discard everything written so far (the destination is left untouched)."""
        if self._h5 is not None:
            try:
                self._h5.close()
            finally:
                self._h5 = None
        self._target.abort()


class HDF5PredictionReader:
    """Read a file written by :class:`HDF5PredictionWriter`, one image at a time.

    Only the index (file names) is loaded up front; ``reader[file_name]`` and iteration
    read one image group per call. Errors name the file, the image group and the field.

    Attributes:
        object_classes, predicate_classes, mode, dataset, model_meta, score_dtype,
        compact (rows reduced by ``compact=True``).
    """

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"{self.path}: no such predictions file")
        try:
            self._h5: h5py.File | None = h5py.File(self.path, "r")
        except OSError as e:
            raise ValueError(f"{self.path}: not a readable HDF5 file ({e})") from e
        try:
            self._read_header()
        except BaseException:
            self.close()
            raise

    def _read_header(self) -> None:
        attrs = self._h5.attrs
        fmt = attrs.get("format")
        if fmt != HDF5_FORMAT:
            raise ValueError(f"{self.path}: attribute 'format' is {fmt!r}, expected {HDF5_FORMAT!r}")
        version = attrs.get("version")
        version = version.item() if isinstance(version, np.generic) else version
        if version != HDF5_VERSION:
            raise ValueError(
                f"{self.path}: attribute 'version' is {version!r}; this reader supports version {HDF5_VERSION}"
            )
        self.object_classes = self._class_list("object_classes", "num_object_classes")
        self.predicate_classes = self._class_list("predicate_classes", "num_predicate_classes")
        self.mode = str(attrs.get("mode", ""))
        self.dataset = str(attrs.get("dataset", ""))
        self.score_dtype = str(attrs.get("score_dtype", "float32"))
        self.model_meta = json.loads(attrs.get("model", "{}"))
        self.compact = bool(attrs.get("compact", False))
        if "index" not in self._h5 or "images" not in self._h5:
            raise ValueError(f"{self.path}: missing group 'index' or 'images' (incomplete file)")
        names = self._h5["index/file_names"].asstr()[()].tolist()
        keys = self._h5["index/keys"].asstr()[()].tolist()
        if len(names) != len(keys):
            raise ValueError(f"{self.path}: index/file_names has {len(names)} entries but index/keys {len(keys)}")
        self._file_names: list[str] = names
        self._key_of: dict[str, str] = dict(zip(names, keys))

    def _class_list(self, field: str, count_field: str) -> list[str]:
        raw = self._h5.attrs.get(field)
        if raw is None:
            raise ValueError(f"{self.path}: missing attribute {field!r}")
        try:
            classes = json.loads(raw)
        except (TypeError, json.JSONDecodeError) as e:
            raise ValueError(f"{self.path}: attribute {field!r} is not a JSON list of names ({e})") from e
        count = self._h5.attrs.get(count_field)
        count = count.item() if isinstance(count, np.generic) else count
        if not isinstance(classes, list) or len(classes) < 2 or count != len(classes):
            raise ValueError(
                f"{self.path}: attribute {field!r} lists {len(classes) if isinstance(classes, list) else '?'} "
                f"classes but {count_field!r} is {count!r}"
            )
        return [str(c) for c in classes]

    # ------------------------------------------------------------------ access
    def __enter__(self) -> HDF5PredictionReader:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying file."""
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def __len__(self) -> int:
        return len(self._file_names)

    def __contains__(self, file_name: object) -> bool:
        return file_name in self._key_of

    def file_names(self) -> list[str]:
        """File names in insertion order."""
        return list(self._file_names)

    @property
    def meta(self) -> dict[str, Any]:
        """File-level metadata (as in the JSON export's header)."""
        return {"format": HDF5_FORMAT, "version": HDF5_VERSION, "mode": self.mode, "dataset": self.dataset,
                "model": self.model_meta, "object_classes": self.object_classes,
                "predicate_classes": self.predicate_classes, "score_dtype": self.score_dtype,
                "compact": self.compact}

    def __getitem__(self, file_name: str) -> tuple[ImageInfo, SceneGraphPrediction]:
        if file_name not in self._key_of:
            close = difflib.get_close_matches(str(file_name), self._file_names, n=3)
            hint = f"; close matches: {close}" if close else ""
            raise KeyError(f"{self.path}: no image {file_name!r} in this predictions file "
                           f"({len(self)} images){hint}")
        return self._read_image(self._key_of[file_name])

    def __iter__(self) -> Iterator[tuple[ImageInfo, SceneGraphPrediction]]:
        """Yield ``(info, prediction)`` in insertion order, reading one image at a time."""
        for name in self._file_names:
            yield self._read_image(self._key_of[name])

    def _read_image(self, key: str) -> tuple[ImageInfo, SceneGraphPrediction]:
        if self._h5 is None:
            raise RuntimeError(f"{self.path}: reader is closed")
        gpath = f"images/{key}"
        if gpath not in self._h5:
            raise ValueError(f"{self.path}: group {gpath!r} listed in the index is missing")
        g = self._h5[gpath]
        where = f"{self.path}: group {gpath!r}"
        try:
            info = ImageInfo(str(g.attrs["file_name"]), int(g.attrs["image_id"]),
                             int(g.attrs["width"]), int(g.attrs["height"]))
        except KeyError as e:
            raise ValueError(f"{where}: missing attribute {e.args[0]!r}") from e
        where = f"{where} (image {info.file_name!r})"
        for field in _REQUIRED:
            if field not in g:
                raise ValueError(f"{where}: missing dataset {field!r}")
        arrays = {field: g[field][()] for field in _REQUIRED}
        rel_scores = g["rel_scores"][()].astype(np.float32) if "rel_scores" in g else None
        n_obj, n_rel = len(self.object_classes), len(self.predicate_classes)
        if rel_scores is not None and (rel_scores.ndim != 2 or rel_scores.shape[1] != n_rel):
            raise ValueError(f"{where}: field 'rel_scores' has shape {rel_scores.shape}, expected (R, {n_rel}) "
                             f"for {n_rel} predicate classes")
        labels, rel_labels = arrays["labels"], arrays["rel_labels"]
        if labels.size and (labels.min() < 0 or labels.max() >= n_obj):
            raise ValueError(f"{where}: field 'labels' holds values outside 0..{n_obj - 1}")
        if rel_labels.size and (rel_labels.min() < 0 or rel_labels.max() >= n_rel):
            raise ValueError(f"{where}: field 'rel_labels' holds values outside 0..{n_rel - 1}")
        extras = {name: self._read_array(ds) for name, ds in g["extras"].items()} if "extras" in g else {}
        obj_extras = {name: self._read_array(ds) for name, ds in g["obj_extras"].items()} if "obj_extras" in g else {}
        try:
            pred = SceneGraphPrediction(
                boxes=arrays["boxes"], labels=labels, scores=arrays["scores"],
                rel_pair_idxs=arrays["rel_pair_idxs"], rel_scores=rel_scores,
                rel_labels=rel_labels, rel_label_scores=arrays["rel_label_scores"],
                extras=extras, obj_extras=obj_extras,
            )
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from e
        return info, pred

    @staticmethod
    def _read_array(ds: h5py.Dataset) -> np.ndarray:
        if ds.attrs.get("kind") == "str":
            return np.array(ds.asstr()[()].tolist(), dtype=str)
        return ds[()]
