"""Small file helpers shared by the data writers: atomic writes and content hashing."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

__all__ = ["atomic_path", "write_json_atomic", "write_bytes_atomic", "files_sha256"]


@contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` (os.replace)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_bytes_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


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
