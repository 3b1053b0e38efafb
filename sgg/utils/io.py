"""Atomic file writes and overwrite protection.

A write goes to a temporary file in the destination folder and is moved into place with
``os.replace``, so readers never see a half-written file and a crash leaves the previous
version intact.
"""

from __future__ import annotations

import io
import os
import tempfile
from typing import Any, Callable, IO

import torch

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_torch_save",
    "atomic_write_with",
    "safe_output_path",
    "jsonable",
]


def atomic_write_with(path: str, writer: Callable[[IO[bytes]], None]) -> None:
    """Call ``writer(fileobj)`` on a temporary file next to ``path``, then move it onto ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write_with(path, lambda f: f.write(data))


def atomic_write_text(path: str, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode(encoding))


def atomic_torch_save(obj: Any, path: str) -> None:
    """``torch.save(obj, path)`` atomically (serialised in memory first, then moved into place)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def safe_output_path(path: str, overwrite: bool = False) -> str:
    """Return ``path`` if it may be written: it does not exist yet, or ``overwrite`` is True.

    Raises:
        FileExistsError: naming the file and how to allow the overwrite.
    """
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(
            f"Refusing to overwrite existing file {path}. Choose another output path or pass "
            f"overwrite=True (the tools' --overwrite flag)."
        )
    return path


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy/torch scalars and arrays turned into Python numbers and lists (for ``json.dumps``)."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return jsonable(obj.detach().cpu().numpy())
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
