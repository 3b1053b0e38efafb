"""Small file helpers of the data side: JSON reading with dataset errors, atomic writes (on
:mod:`sgg.utils.io`) and content hashing."""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Iterable

from ..utils.io import atomic_path
from ..utils.io import atomic_write_bytes as write_bytes_atomic
from .errors import DatasetFormatError

__all__ = ["read_json", "atomic_path", "write_json_atomic", "write_bytes_atomic", "files_sha256"]


def read_json(path: str, what: str) -> Any:
    """Parsed JSON of ``path``; a missing file or invalid JSON raises ``DatasetFormatError`` naming ``what``."""
    if not os.path.isfile(path):
        raise DatasetFormatError(path, "(file)", f"an existing {what} file", "missing")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetFormatError(path, "(file)", f"valid JSON ({what})", str(e)) from None


def write_json_atomic(path: str, obj: Any, indent: int | None = None) -> None:
    """Write ``obj`` as UTF-8 JSON to ``path`` atomically (stable key order as given)."""
    write_bytes_atomic(path, json.dumps(obj, indent=indent, ensure_ascii=False).encode("utf-8"))


def files_sha256(paths: Iterable[str], chunk: int = 1 << 20) -> str:
    """SHA-256 over the names and contents of ``paths`` (in the given order)."""
    h = hashlib.sha256()
    for p in paths:
        h.update(os.path.basename(p).encode("utf-8"))
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(chunk), b""):
                h.update(block)
    return h.hexdigest()
