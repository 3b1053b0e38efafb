"""Nearest-neighbour indexes over hyperbolic (Lorentz) and Euclidean embeddings, backed by faiss.

No vector engine has a hyperbolic metric, so the two hyperbolic indexes use the tricks of
ecosystem.md 6.2:

* :class:`ExactLorentzIndex` stores full hyperboloid points ``x = (x_t, x_s)`` with
  ``x_t = sqrt(1/c + |x_s|^2)`` in a ``faiss.IndexFlatIP``. A query ``q`` is searched as
  ``(-q_t, q_s)``, so the inner product faiss maximises is the Lorentzian inner product
  ``<q, x>_L = q_s . x_s - q_t x_t``, and the largest ``<q, x>_L`` is the smallest distance
  ``d(q, x) = acosh(-c <q, x>_L) / sqrt(c)``. Results are exact.
* :class:`TangentHNSWIndex` builds an L2 HNSW graph over ``log0(x)`` (the tangent space at the
  origin), takes a shortlist of candidates per query and re-ranks them with the exact Lorentz
  distance. Approximate; recall grows with the shortlist.
* :class:`CosineIndex` is the Euclidean baseline (exact cosine similarity via inner product of
  L2-normalised vectors).

Every index has the same interface: ``build(vectors, ids)``, ``search(queries, k) -> (distances, ids)``
(ascending distance, ``ids = -1`` / ``distance = inf`` where fewer than ``k`` items exist),
``save(directory)`` and :func:`load_index` (a JSON manifest with a format version, the faiss index
and the ids as ``.npy``). Inputs of the hyperbolic indexes are the Lorentz *space components*
``x_s`` (shape ``(n, d)``, the MERU convention) and the curvature ``c > 0`` (space curvature ``-c``).
"""
from __future__ import annotations

import json
import math
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import faiss
import numpy as np

from ..utils.io import atomic_directory

__all__ = [
    "INDEX_FORMAT",
    "INDEX_FORMAT_VERSION",
    "CosineIndex",
    "ExactLorentzIndex",
    "IndexFormatError",
    "RetrievalIndex",
    "TangentHNSWIndex",
    "exp0",
    "load_index",
    "log0",
    "lorentz_distance",
    "lorentz_inner",
    "lorentz_time",
]

INDEX_FORMAT = "sgg-retrieval-index"
INDEX_FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_FAISS_FILE = "index.faiss"
_IDS_FILE = "ids.npy"


class IndexFormatError(ValueError):
    """A saved index directory is missing, malformed or of an unsupported version."""


# ----------------------------------------------------------------------------- Lorentz math (numpy)
# Conventions of methods_spec 1.1: points stored as space components x_s, curvature c > 0.


def lorentz_time(space: np.ndarray, curvature: float) -> np.ndarray:
    """Time component ``x_t = sqrt(1/c + |x_s|^2)`` of hyperboloid points given by space components."""
    space = np.asarray(space, dtype=np.float64)
    return np.sqrt(1.0 / curvature + np.sum(space * space, axis=-1))


def lorentz_inner(x_space: np.ndarray, y_space: np.ndarray, curvature: float) -> np.ndarray:
    """Pairwise Lorentzian inner products ``(n, d) x (m, d) -> (n, m)`` in float64."""
    x = np.asarray(x_space, dtype=np.float64)
    y = np.asarray(y_space, dtype=np.float64)
    return x @ y.T - np.outer(lorentz_time(x, curvature), lorentz_time(y, curvature))


def _acosh_distance(inner: np.ndarray, curvature: float) -> np.ndarray:
    # acosh(z) = log(z + sqrt(z^2 - 1)), argument clamped at 1 (identical points -> distance 0).
    z = np.maximum(-curvature * np.asarray(inner, dtype=np.float64), 1.0)
    return np.arccosh(z) / math.sqrt(curvature)


def lorentz_distance(x_space: np.ndarray, y_space: np.ndarray, curvature: float) -> np.ndarray:
    """Pairwise geodesic distances ``(n, d) x (m, d) -> (n, m)`` on the hyperboloid of curvature ``-c``."""
    return _acosh_distance(lorentz_inner(x_space, y_space, curvature), curvature)


def log0(space: np.ndarray, curvature: float) -> np.ndarray:
    """Log map at the origin: ``acosh(sqrt(1 + c|x_s|^2)) x_s / (sqrt(c)|x_s|)`` (tangent vectors, float64)."""
    x = np.asarray(space, dtype=np.float64)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    sc = math.sqrt(curvature)
    radius = np.arccosh(np.sqrt(1.0 + curvature * norm**2)) / sc
    return x * (radius / np.maximum(norm, 1e-15))


def exp0(tangent: np.ndarray, curvature: float) -> np.ndarray:
    """Exp map at the origin: ``sinh(sqrt(c)|v|) v / (sqrt(c)|v|)`` (space components, float64)."""
    v = np.asarray(tangent, dtype=np.float64)
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    sc = math.sqrt(curvature)
    return v * (np.sinh(sc * norm) / np.maximum(sc * norm, 1e-15))


# ----------------------------------------------------------------------------- base class


def _check_matrix(name: str, array: np.ndarray, dim: int | None = None) -> np.ndarray:
    out = np.asarray(array)
    if out.ndim != 2:
        raise ValueError(f"{name}: expected a 2-d array (n, d), got shape {out.shape}")
    if dim is not None and out.shape[1] != dim:
        raise ValueError(f"{name}: expected {dim} columns (the index dimension), got {out.shape[1]}")
    out = np.ascontiguousarray(out, dtype=np.float32)
    if not np.isfinite(out).all():
        bad = int(np.argwhere(~np.isfinite(out))[0, 0])
        raise ValueError(f"{name}: row {bad} contains NaN or infinite values")
    return out


class RetrievalIndex(ABC):
    """k-NN index contract: ``build(vectors, ids)``, ``search(queries, k) -> (distances, ids)``.

    ``distances`` are float32 ``(q, k)`` in ascending order and ``ids`` int64 ``(q, k)``; slots beyond the
    number of indexed items hold ``id = -1`` and ``distance = inf``. Subclasses register a ``kind`` string
    used by :func:`load_index`.
    """

    kind: str = ""
    _registry: ClassVar[dict[str, type[RetrievalIndex]]] = {}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            RetrievalIndex._registry[cls.kind] = cls

    def __init__(self) -> None:
        self._faiss: faiss.Index | None = None
        self._ids: np.ndarray | None = None
        self.dim: int | None = None

    def __len__(self) -> int:
        return 0 if self._ids is None else len(self._ids)

    # -- subclass hooks
    @abstractmethod
    def _build_faiss(self, vectors: np.ndarray) -> faiss.Index:
        """Create and fill the faiss index from validated ``(n, d)`` float32 vectors."""

    @abstractmethod
    def _search_positions(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(distances float64 (q, k), positions int64 (q, k))``, ``-1`` for missing."""

    def _params(self) -> dict:
        """Constructor arguments stored in the manifest (must round-trip through ``cls(**params)``)."""
        return {}

    # -- public API
    def build(self, vectors: np.ndarray, ids: np.ndarray | None = None) -> RetrievalIndex:
        """Index ``vectors`` ``(n, d)``; ``ids`` (n,) int64 are returned by ``search`` (default ``0..n-1``)."""
        vectors = _check_matrix("vectors", vectors)
        n = len(vectors)
        if ids is None:
            ids = np.arange(n, dtype=np.int64)
        ids = np.asarray(ids)
        if ids.shape != (n,) or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"ids: expected ({n},) integers matching the vectors, got {ids.shape} {ids.dtype}")
        if n == 0:
            raise ValueError("vectors: cannot build an index over 0 items")
        self.dim = int(vectors.shape[1])
        self._faiss = self._build_faiss(vectors)
        self._ids = ids.astype(np.int64)
        return self

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the ``k`` nearest items of each query: ``(distances (q, k) float32, ids (q, k) int64)``."""
        if self._faiss is None:
            raise RuntimeError(f"{type(self).__name__}: call build() or load_index() before search()")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        queries = _check_matrix("queries", queries, self.dim)
        dist, pos = self._search_positions(queries, k)
        ids = np.where(pos >= 0, self._ids[np.maximum(pos, 0)], -1).astype(np.int64)
        dist = np.where(pos >= 0, dist, np.inf).astype(np.float32)
        return dist, ids

    def save(self, directory: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write manifest, faiss index and ids into ``directory`` atomically (temp dir + rename)."""
        if self._faiss is None:
            raise RuntimeError(f"{type(self).__name__}: nothing to save, call build() first")
        target = Path(directory)
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target}: already exists; pass overwrite=True to replace it")
        with atomic_directory(target) as tmp:
            manifest = {
                "format": INDEX_FORMAT,
                "version": INDEX_FORMAT_VERSION,
                "kind": self.kind,
                "dim": self.dim,
                "count": len(self),
                "params": self._params(),
            }
            manifest.update(self._manifest_extra())
            faiss.write_index(self._faiss, str(tmp / _FAISS_FILE))
            np.save(tmp / _IDS_FILE, self._ids)
            (tmp / _MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        return target

    def _manifest_extra(self) -> dict:
        return {}


# ----------------------------------------------------------------------------- hyperbolic indexes


class _LorentzIndexBase(RetrievalIndex):
    def __init__(self, curvature: float = 1.0) -> None:
        super().__init__()
        if not (curvature > 0 and math.isfinite(curvature)):
            raise ValueError(f"curvature: expected a finite positive value (space curvature -c), got {curvature}")
        self.curvature = float(curvature)

    def _params(self) -> dict:
        return {"curvature": self.curvature}

    def _manifest_extra(self) -> dict:
        return {"curvature": self.curvature}

    def _rerank(self, queries: np.ndarray, candidates: np.ndarray, space: np.ndarray, k: int):
        """Exact float64 Lorentz distances of ``candidates`` (q, s) positions; keep the best ``k``."""
        q, s = candidates.shape
        valid = candidates >= 0
        cand_space = space.reshape(q, s, -1).astype(np.float64)
        qs = queries.astype(np.float64)
        inner = np.einsum("qd,qsd->qs", qs, cand_space) - lorentz_time(qs, self.curvature)[:, None] * lorentz_time(
            cand_space, self.curvature
        )
        dist = np.where(valid, _acosh_distance(inner, self.curvature), np.inf)
        order = np.argsort(dist, axis=1, kind="stable")[:, :k]
        dist = np.take_along_axis(dist, order, 1)
        pos = np.where(np.isfinite(dist), np.take_along_axis(candidates, order, 1), -1)
        if pos.shape[1] < k:  # fewer candidates than k
            pad = k - pos.shape[1]
            dist = np.pad(dist, ((0, 0), (0, pad)), constant_values=np.inf)
            pos = np.pad(pos, ((0, 0), (0, pad)), constant_values=-1)
        return dist, pos


class ExactLorentzIndex(_LorentzIndexBase):
    """Exact hyperbolic k-NN: ``IndexFlatIP`` over ``(x_t, x_s)``, queries searched as ``(-q_t, q_s)``.

    Args:
        curvature: c > 0 of the hyperboloid (space curvature -c).
    """

    kind = "exact_lorentz"

    def _build_faiss(self, vectors: np.ndarray) -> faiss.Index:
        full = np.concatenate([lorentz_time(vectors, self.curvature)[:, None], vectors], axis=1).astype(np.float32)
        index = faiss.IndexFlatIP(full.shape[1])
        index.add(np.ascontiguousarray(full))
        return index

    def _search_positions(self, queries: np.ndarray, k: int):
        q_full = np.concatenate([-lorentz_time(queries, self.curvature)[:, None], queries], axis=1)
        kk = min(k, len(self))
        _, pos = self._faiss.search(np.ascontiguousarray(q_full, dtype=np.float32), kk)
        # Recompute distances in float64 from the stored points (faiss's float32 inner products lose
        # precision for nearby points far from the origin) and order by them.
        stored = self._faiss.reconstruct_batch(np.maximum(pos, 0).ravel())[:, 1:]
        return self._rerank(queries, pos.astype(np.int64), stored, k)


class TangentHNSWIndex(_LorentzIndexBase):
    """Approximate hyperbolic k-NN: L2 HNSW over ``log0(x)``, shortlist, exact Lorentz re-rank.

    Args:
        curvature: c > 0 of the hyperboloid.
        shortlist: candidates taken from the HNSW graph per query before re-ranking (>= k is enforced).
        hnsw_m: HNSW graph degree (faiss ``M``).
        ef_construction: HNSW build-time beam width.
        ef_search: HNSW search beam width; at least ``shortlist`` is used.
    """

    kind = "tangent_hnsw"

    def __init__(
        self,
        curvature: float = 1.0,
        shortlist: int = 500,
        hnsw_m: int = 32,
        ef_construction: int = 80,
        ef_search: int = 0,
    ) -> None:
        super().__init__(curvature)
        if shortlist < 1 or hnsw_m < 2 or ef_construction < 1:
            raise ValueError("shortlist >= 1, hnsw_m >= 2 and ef_construction >= 1 are required")
        self.shortlist = int(shortlist)
        self.hnsw_m = int(hnsw_m)
        self.ef_construction = int(ef_construction)
        self.ef_search = int(ef_search)

    def _params(self) -> dict:
        return {
            "curvature": self.curvature,
            "shortlist": self.shortlist,
            "hnsw_m": self.hnsw_m,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
        }

    def _build_faiss(self, vectors: np.ndarray) -> faiss.Index:
        index = faiss.IndexHNSWFlat(vectors.shape[1], self.hnsw_m)
        index.hnsw.efConstruction = self.ef_construction
        index.add(np.ascontiguousarray(log0(vectors, self.curvature), dtype=np.float32))
        return index

    def _search_positions(self, queries: np.ndarray, k: int):
        shortlist = min(max(self.shortlist, k), len(self))
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(self.ef_search, shortlist)
        tangent = np.ascontiguousarray(log0(queries, self.curvature), dtype=np.float32)
        _, pos = self._faiss.search(tangent, shortlist, params=params)
        # The graph stores tangent vectors; map the candidates back onto the hyperboloid for re-ranking.
        stored_tangent = self._faiss.reconstruct_batch(np.maximum(pos, 0).ravel())
        return self._rerank(queries, pos.astype(np.int64), exp0(stored_tangent, self.curvature), k)


# ----------------------------------------------------------------------------- Euclidean baseline


class CosineIndex(RetrievalIndex):
    """Exact cosine k-NN (Euclidean baseline); distance returned is ``1 - cos``."""

    kind = "cosine"

    @staticmethod
    def _normalise(x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12), dtype=np.float32)

    def _build_faiss(self, vectors: np.ndarray) -> faiss.Index:
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(self._normalise(vectors))
        return index

    def _search_positions(self, queries: np.ndarray, k: int):
        sim, pos = self._faiss.search(self._normalise(queries), k)
        return 1.0 - sim.astype(np.float64), pos.astype(np.int64)


# ----------------------------------------------------------------------------- loading


def load_index(directory: str | os.PathLike) -> RetrievalIndex:
    """Load an index written by :meth:`RetrievalIndex.save`, checking format, version and counts."""
    root = Path(directory)
    manifest_path = root / _MANIFEST
    if not manifest_path.is_file():
        raise IndexFormatError(f"{root}: not a saved retrieval index (no {_MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as exc:
        raise IndexFormatError(f"{manifest_path}: invalid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != INDEX_FORMAT:
        raise IndexFormatError(f"{manifest_path}: field 'format' must be '{INDEX_FORMAT}'")
    version = manifest.get("version")
    if version != INDEX_FORMAT_VERSION:
        raise IndexFormatError(
            f"{manifest_path}: field 'version' is {version!r}, but this toolkit reads index version "
            f"{INDEX_FORMAT_VERSION}; rebuild the index with this version"
        )
    kind = manifest.get("kind")
    cls = RetrievalIndex._registry.get(kind)
    if cls is None:
        raise IndexFormatError(
            f"{manifest_path}: field 'kind' is {kind!r}, expected one of {sorted(RetrievalIndex._registry)}"
        )
    for key in ("dim", "count", "params"):
        if key not in manifest:
            raise IndexFormatError(f"{manifest_path}: missing field '{key}'")
    index = cls(**manifest["params"])
    index._faiss = faiss.read_index(str(root / _FAISS_FILE))
    index._ids = np.load(root / _IDS_FILE, allow_pickle=False)
    index.dim = int(manifest["dim"])
    expected_faiss_dim = index.dim + (1 if kind == ExactLorentzIndex.kind else 0)
    if index._faiss.d != expected_faiss_dim:
        raise IndexFormatError(f"{root / _FAISS_FILE}: dimension {index._faiss.d}, manifest implies {expected_faiss_dim}")
    count = int(manifest["count"])
    if index._faiss.ntotal != count or index._ids.shape != (count,):
        raise IndexFormatError(
            f"{root}: manifest 'count' {count} but faiss holds {index._faiss.ntotal} vectors and "
            f"{_IDS_FILE} {index._ids.shape[0] if index._ids.ndim else 0} ids"
        )
    return index
