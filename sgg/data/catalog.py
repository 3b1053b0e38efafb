"""Dataset and metadata catalogs (in the spirit of detectron2's ``data/catalog.py``).

``DatasetCatalog`` maps a name (``toy_train``, ``vg150_test``, ``oiv6_val``) to a zero-argument
callable returning ``list[SceneGraphRecord]``; ``MetadataCatalog`` maps the same name to a
:class:`DatasetMetadata` (built lazily on first access). Registering a name twice or asking for an
unknown name raises and lists the known names.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Union

import numpy as np

from ..structures.scene_graph import SceneGraphRecord
from .errors import DatasetFormatError
from .hierarchy import load_hierarchy
from .statistics import DatasetStatistics, compute_statistics_cached

__all__ = ["DatasetCatalog", "MetadataCatalog", "DatasetMetadata", "register_scene_graph_dataset",
           "load_dataset_split", "load_class_names", "load_zeroshot_triplets", "FLIP_MAP_FILE",
           "ZEROSHOT_FILE", "HIERARCHY_FILE", "CAPTIONS_FILE"]

FLIP_MAP_FILE = "predicate_flip_map.json"
ZEROSHOT_FILE = "zeroshot_triplets.npy"
HIERARCHY_FILE = "hierarchy.json"
CAPTIONS_FILE = "captions.json"
SPLITS = ("train", "val", "test")


@dataclass
class DatasetMetadata:
    """Everything models, evaluators and exporters need to know about a dataset split.

    Attributes:
        name: registered name, e.g. ``toy_test``.
        object_classes / predicate_classes: names with ``__background__`` at index 0.
        evaluator_type: ``"vg150"`` or ``"oiv6"``.
        root, split: folder and split the records come from.
        statistics: frequency statistics of the TRAIN split of the same root (or None).
        zeroshot_triplets: (Z, 3) int64 rows (subject label, object label, predicate), or None.
        hierarchy: ``{"objects": {parent: [children]}, "predicates": {...}}`` or None.
        captions: path of ``captions.json`` (``{str(image_id): [sentences]}``) or None.
        attribute_classes: attribute names with ``__background__`` at 0 (VG only; may be just that).
        predicate_flip_map: ``{predicate id: id after a horizontal flip}`` for every predicate, or
            None when the dataset's predicates cannot be flipped (flip augmentation is refused).
    """

    name: str
    object_classes: List[str]
    predicate_classes: List[str]
    evaluator_type: str
    root: str
    split: str
    statistics: Optional[DatasetStatistics] = None
    zeroshot_triplets: Optional[np.ndarray] = None
    hierarchy: Optional[dict] = None
    captions: Optional[str] = None
    attribute_classes: List[str] = field(default_factory=lambda: ["__background__"])
    predicate_flip_map: Optional[Dict[int, int]] = None

    @property
    def num_object_classes(self) -> int:
        return len(self.object_classes)

    @property
    def num_predicate_classes(self) -> int:
        return len(self.predicate_classes)


class _Catalog:
    """name -> value registry that fails loudly on duplicates and unknown names."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._items: Dict[str, object] = {}

    def _register(self, name: str, value: object) -> None:
        if name in self._items:
            raise KeyError(f"{self._what} '{name}' is already registered; registered names: {self.list()}")
        self._items[name] = value

    def _lookup(self, name: str) -> object:
        if name not in self._items:
            raise KeyError(f"{self._what} '{name}' is not registered; registered names: {self.list() or '(none)'}")
        return self._items[name]

    def list(self) -> List[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def remove(self, name: str) -> None:
        """Forget ``name`` (raises if unknown)."""
        self._lookup(name)
        del self._items[name]

    def __contains__(self, name: str) -> bool:
        return name in self._items


class _DatasetCatalog(_Catalog):
    def register(self, name: str, func: Callable[[], List[SceneGraphRecord]]) -> None:
        """Register a zero-argument callable returning the records of ``name``."""
        if not callable(func):
            raise TypeError(f"DatasetCatalog.register('{name}', ...): expected a callable, got {type(func).__name__}")
        self._register(name, func)

    def get(self, name: str) -> List[SceneGraphRecord]:
        """Call the registered loader of ``name`` (every call loads again)."""
        return self._lookup(name)()


class _MetadataCatalog(_Catalog):
    def register(self, name: str, metadata: Union[DatasetMetadata, Callable[[], DatasetMetadata]]) -> None:
        """Register a :class:`DatasetMetadata` or a zero-argument factory (called once, on first get)."""
        self._register(name, metadata)

    def get(self, name: str) -> DatasetMetadata:
        """Metadata of ``name`` (built and cached on first access)."""
        value = self._lookup(name)
        if not isinstance(value, DatasetMetadata):
            value = value()
            self._items[name] = value
        return value


DatasetCatalog = _DatasetCatalog("dataset")
MetadataCatalog = _MetadataCatalog("metadata of dataset")


def load_dataset_split(root: str, fmt: str, split: str, **kw) -> List[SceneGraphRecord]:
    """Records of one split: ``fmt`` "vg150" (:func:`sgg.data.vg150.load_vg150` keywords) or
    "oiv6" (:func:`sgg.data.oiv6.load_oiv6` keywords; ``num_val_im`` and VG-only keys are ignored)."""
    if fmt == "vg150":
        from .vg150 import load_vg150

        return load_vg150(root, split, **kw)
    if fmt == "oiv6":
        from .oiv6 import load_oiv6

        for k in ("num_val_im", "filter_non_overlap", "box_scale", "chunk_images"):
            kw.pop(k, None)
        return load_oiv6(root, split, **kw)
    raise ValueError(f"unknown dataset format {fmt!r}; expected 'vg150' or 'oiv6'")


def load_class_names(root: str, fmt: str) -> Dict[str, List[str]]:
    """``object_classes``, ``predicate_classes`` (and ``attribute_classes``) with background at 0."""
    if fmt == "vg150":
        from .vg150 import DICTS_FILE, load_vg150_dicts

        return load_vg150_dicts(os.path.join(root, DICTS_FILE))
    if fmt == "oiv6":
        from .oiv6 import load_oiv6_categories

        return {**load_oiv6_categories(root), "attribute_classes": ["__background__"]}
    raise ValueError(f"unknown dataset format {fmt!r}; expected 'vg150' or 'oiv6'")


def load_zeroshot_triplets(path: str) -> np.ndarray:
    """(Z, 3) int64 rows (subject label, object label, predicate) from ``.npy``, ``.json``,
    ``.txt``/``.csv`` or SGB's ``.pytorch`` file (``zeroshot_triplet.pytorch``)."""
    if not os.path.isfile(path):
        raise DatasetFormatError(path, "(file)", "an existing zero-shot triplet file", "missing")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        arr = np.load(path, allow_pickle=False)
    elif ext == ".json":
        with open(path) as f:
            arr = np.asarray(json.load(f))
    elif ext in (".txt", ".csv"):
        arr = np.loadtxt(path, delimiter="," if ext == ".csv" else None, dtype=np.int64, ndmin=2)
    else:
        import torch

        arr = torch.load(path, map_location="cpu", weights_only=True)
        arr = arr.numpy() if hasattr(arr, "numpy") else np.asarray(arr)
    arr = np.asarray(arr)
    if arr.ndim != 2 or arr.shape[1] != 3 or not np.issubdtype(arr.dtype, np.integer):
        raise DatasetFormatError(path, "(array)", "integer rows of (subject label, object label, predicate)",
                                 f"shape {arr.shape}, dtype {arr.dtype}")
    return arr.astype(np.int64)


def _load_flip_map(root: str, predicate_classes: List[str]) -> Optional[Dict[int, int]]:
    path = os.path.join(root, FLIP_MAP_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        by_name = json.load(f)
    idx = {n: i for i, n in enumerate(predicate_classes)}
    out = {i: i for i in range(len(predicate_classes))}
    for a, b in by_name.items():
        if a not in idx or b not in idx:
            raise DatasetFormatError(path, a, f"predicate names of the dataset ({predicate_classes[1:4]}...)",
                                     f"{a!r} -> {b!r}")
        out[idx[a]] = idx[b]
    return out


def _annotation_files(root: str, fmt: str) -> List[str]:
    if fmt == "vg150":
        from .vg150 import DICTS_FILE, H5_FILE, IMAGE_DATA_FILE

        return [os.path.join(root, n) for n in (H5_FILE, DICTS_FILE, IMAGE_DATA_FILE)]
    from .oiv6 import OI_CATEGORIES_FILE, oi_annotation_file

    return [os.path.join(root, OI_CATEGORIES_FILE), os.path.join(root, oi_annotation_file("train"))]


def register_scene_graph_dataset(prefix: str, root: str, fmt: str = "vg150", *, num_val_im: int = 5000,
                                 filter_empty_rels: bool = True, filter_non_overlap: bool = False,
                                 image_dir: Optional[str] = None, check_images: bool = True,
                                 statistics_cache: str = "", zeroshot_file: str = "", seed: int = 0) -> List[str]:
    """Register ``<prefix>_train``, ``<prefix>_val`` and ``<prefix>_test`` lazily; returns the names.

    Nothing is read until a name is asked for. Records keep all duplicate relations (the training
    mapper applies SGB's per-iteration duplicate filter). Metadata statistics are those of the train
    split; ``statistics_cache`` is a folder for the ``.npz`` cache ("" = no cache). ``zeroshot_file``
    overrides ``<root>/zeroshot_triplets.npy``.
    """
    if fmt not in ("vg150", "oiv6"):
        raise ValueError(f"unknown dataset format {fmt!r}; expected 'vg150' or 'oiv6'")
    root = os.path.abspath(os.path.expanduser(root))
    kw = dict(filter_empty_rels=filter_empty_rels, image_dir=image_dir, check_images=check_images, seed=seed)
    if fmt == "vg150":
        kw.update(num_val_im=num_val_im, filter_non_overlap=filter_non_overlap)

    def records(split: str) -> Callable[[], List[SceneGraphRecord]]:
        return lambda: load_dataset_split(root, fmt, split, **kw)

    def train_no_check() -> List[SceneGraphRecord]:
        # statistics read the train split unfiltered by overlap (they apply SGB's filter themselves)
        kw_stats = {**kw, "check_images": False}
        if fmt == "vg150":
            kw_stats["filter_non_overlap"] = False
        return load_dataset_split(root, fmt, "train", **kw_stats)

    shared: Dict[str, object] = {}

    def metadata(split: str) -> Callable[[], DatasetMetadata]:
        def build() -> DatasetMetadata:
            if "names" not in shared:
                names = load_class_names(root, fmt)
                shared["names"] = names
                shared["stats"] = compute_statistics_cached(
                    train_no_check, len(names["object_classes"]), len(names["predicate_classes"]),
                    _annotation_files(root, fmt), statistics_cache or None,
                    key_extra=f"{fmt}|{num_val_im}|{filter_empty_rels}")
                zs = zeroshot_file or os.path.join(root, ZEROSHOT_FILE)
                shared["zeroshot"] = load_zeroshot_triplets(zs) if (zeroshot_file or os.path.isfile(zs)) else None
                hp = os.path.join(root, HIERARCHY_FILE)
                shared["hierarchy"] = load_hierarchy(hp) if os.path.isfile(hp) else None
                shared["flip"] = _load_flip_map(root, names["predicate_classes"])
            names = shared["names"]
            cap = os.path.join(root, CAPTIONS_FILE)
            return DatasetMetadata(
                name=f"{prefix}_{split}", object_classes=names["object_classes"],
                predicate_classes=names["predicate_classes"], evaluator_type=fmt, root=root, split=split,
                statistics=shared["stats"], zeroshot_triplets=shared["zeroshot"], hierarchy=shared["hierarchy"],
                captions=cap if os.path.isfile(cap) else None,
                attribute_classes=names.get("attribute_classes", ["__background__"]),
                predicate_flip_map=shared["flip"],
            )

        return build

    names = []
    for split in SPLITS:
        name = f"{prefix}_{split}"
        DatasetCatalog.register(name, records(split))
        MetadataCatalog.register(name, metadata(split))
        names.append(name)
    return names
