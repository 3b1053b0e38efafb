"""Atomic file writes and overwrite protection.

A write goes to a temporary file in the destination folder and is moved into place with
``os.replace``, so readers never see a half-written file and a crash leaves the previous
version intact.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable

import torch

__all__ = [
    "AtomicTarget",
    "atomic_path",
    "atomic_directory",
    "default_file_mode",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_torch_save",
    "atomic_write_with",
    "safe_output_path",
    "jsonable",
]


def default_file_mode() -> int:
    """Permission bits a plain ``open(path, "w")`` would give under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


class AtomicTarget:
    """A temporary file next to ``path`` that replaces ``path`` on :meth:`commit`.

    The temp file is created at once (hidden name ``.<name>.<random><suffix>``, its folder made if
    missing); write it by path (``temp_path``). :meth:`commit` fsyncs it, gives it the permissions
    of a plain ``open`` and ``os.replace``s it onto ``path``; :meth:`abort` deletes it. With
    ``overwrite=False`` the commit refuses a ``path`` that appeared meanwhile (the caller checks
    before writing, with its own message).

    Args:
        path: final file path.
        overwrite: allow the commit to replace an existing file.
        suffix: ending of the temp name (writers that infer the format from it need the real one).
    """

    def __init__(self, path: str | os.PathLike, *, overwrite: bool = True, suffix: str = ".tmp") -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.overwrite = overwrite
        folder = os.path.dirname(self.path)
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(self.path)}.", suffix=suffix, dir=folder)
        os.close(fd)
        self.temp_path: str | None = tmp

    def commit(self) -> str:
        """Fsync the temp file and move it onto ``path``; returns ``path``. Aborts on any error."""
        if self.temp_path is None:
            raise RuntimeError(f"{self.path}: atomic write already finished")
        try:
            with open(self.temp_path, "rb") as f:
                os.fsync(f.fileno())
            if not self.overwrite and os.path.exists(self.path):
                raise FileExistsError(
                    f"{self.path}: file appeared during the write; pass overwrite=True to replace it"
                )
            os.chmod(self.temp_path, default_file_mode())
            os.replace(self.temp_path, self.path)
        except BaseException:
            self.abort()
            raise
        self.temp_path = None
        return self.path

    def abort(self) -> None:
        """Delete the temp file (idempotent); ``path`` is left untouched."""
        if self.temp_path is not None:
            try:
                os.remove(self.temp_path)
            except FileNotFoundError:
                pass
            self.temp_path = None


@contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = True, suffix: str = ".tmp") -> Iterator[str]:
    """Yield a temp path next to ``path``; it replaces ``path`` if the block succeeds, else is deleted.

    For writers that want a file name (h5py, ``np.savez``, ``fig.savefig``). With
    ``overwrite=False`` an existing ``path`` raises ``FileExistsError`` (:func:`safe_output_path`).
    """
    if not overwrite:
        safe_output_path(os.fspath(path))
    target = AtomicTarget(path, overwrite=overwrite, suffix=suffix)
    try:
        yield target.temp_path
    except BaseException:
        target.abort()
        raise
    target.commit()


@contextmanager
def atomic_directory(directory: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp folder next to ``directory``; it becomes ``directory`` if the block succeeds.

    An existing ``directory`` is moved aside, replaced and then deleted (the caller decides
    beforehand whether replacing is allowed); on an exception the temp folder is deleted and
    ``directory`` is left untouched.
    """
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.replace(target, old / "old")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_with(path: str, writer: Callable[[IO[bytes]], None]) -> None:
    """Call ``writer(fileobj)`` on a temporary file next to ``path``, then move it onto ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        writer(f)


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
