"""Atomic file output: write to a temp file in the target's folder, then ``os.replace`` it into place.

A reader never sees a half-written file, a failure leaves no partial file behind, and an existing
file is only replaced when the caller says so (``overwrite=True``).
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from ..utils.io import AtomicTarget

__all__ = ["AtomicFile", "atomic_output", "check_target"]


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

    A file handle over :class:`sgg.utils.io.AtomicTarget` (fsync, permissions, ``os.replace``).

    Args:
        path: final file path (its folder is created if missing).
        overwrite: allow replacing an existing file.
        binary: open the temp file in binary mode instead of UTF-8 text.
    """

    def __init__(self, path: str | os.PathLike, *, overwrite: bool = False, binary: bool = False) -> None:
        self.path = check_target(path, overwrite)
        self.overwrite = overwrite
        self._target = AtomicTarget(self.path, overwrite=overwrite)
        self.file: IO = (open(self._target.temp_path, "wb") if binary
                         else open(self._target.temp_path, "w", encoding="utf-8", newline="\n"))

    @property
    def temp_path(self) -> Path | None:
        """The temp file while the write is open, None once committed or aborted."""
        return None if self._target.temp_path is None else Path(self._target.temp_path)

    def commit(self) -> Path:
        """Flush and close the file, then fsync and rename the temp file onto ``path``."""
        if self._target.temp_path is None:
            raise RuntimeError(f"{self.path}: atomic write already finished")
        try:
            self.file.close()
        except BaseException:
            self.abort()
            raise
        self._target.commit()
        return self.path

    def abort(self) -> None:
        """Close and delete the temp file (idempotent); the target is left untouched."""
        if not self.file.closed:
            self.file.close()
        self._target.abort()


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
