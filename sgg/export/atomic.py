"""Atomic file output: write to a temp file in the target's folder, then ``os.replace`` it into place.

A reader never sees a half-written file, a failure leaves no partial file behind, and an existing
file is only replaced when the caller says so (``overwrite=True``).
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = ["AtomicFile", "atomic_output", "check_target"]


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def check_target(path: str | os.PathLike, overwrite: bool) -> Path:
    """Return ``path`` as a Path; raise ``FileExistsError`` if it exists and ``overwrite`` is False."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target}: file already exists; pass overwrite=True to replace it")
    if target.is_dir():
        raise IsADirectoryError(f"{target}: is a directory, expected a file path")
    return target


class AtomicFile:
    """A temp file next to ``path`` that becomes ``path`` on :meth:`commit` and vanishes on :meth:`abort`.

    Args:
        path: final file path (its folder is created if missing).
        overwrite: allow replacing an existing file.
        binary: open the temp file in binary mode instead of UTF-8 text.
    """

    def __init__(self, path: str | os.PathLike, *, overwrite: bool = False, binary: bool = False) -> None:
        self.path = check_target(path, overwrite)
        self.overwrite = overwrite
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        self.temp_path: Path | None = Path(tmp)
        self.file: IO = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="\n")

    def commit(self) -> Path:
        """Flush, fsync and rename the temp file onto ``path``."""
        if self.temp_path is None:
            raise RuntimeError(f"{self.path}: atomic write already finished")
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            if self.path.exists() and not self.overwrite:  # appeared while we were writing
                raise FileExistsError(f"{self.path}: file appeared during the write; pass overwrite=True to replace it")
            os.chmod(self.temp_path, _default_mode())
            os.replace(self.temp_path, self.path)
        except BaseException:
            self.abort()
            raise
        self.temp_path = None
        return self.path

    def abort(self) -> None:
        """Close and delete the temp file (idempotent); the target is left untouched."""
        if not self.file.closed:
            self.file.close()
        if self.temp_path is not None:
            try:
                os.unlink(self.temp_path)
            except FileNotFoundError:
                pass
            self.temp_path = None


@contextmanager
def atomic_output(path: str | os.PathLike, *, overwrite: bool = False, binary: bool = False) -> Iterator[IO]:
    """Context manager yielding a file object whose contents replace ``path`` only if the block succeeds."""
    handle = AtomicFile(path, overwrite=overwrite, binary=binary)
    try:
        yield handle.file
    except BaseException:
        handle.abort()
        raise
    handle.commit()
