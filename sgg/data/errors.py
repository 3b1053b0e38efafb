"""Error type for malformed dataset files."""
from __future__ import annotations

__all__ = ["DatasetFormatError"]


class DatasetFormatError(ValueError):
    """A dataset file is missing, unreadable or disagrees with the documented format.

    The message always names the file, the field and what was expected.
    """

    def __init__(self, path: str, field: str, expected: str, got: str = "") -> None:
        self.path, self.field, self.expected, self.got = path, field, expected, got
        msg = f"{path}: field '{field}': expected {expected}"
        if got:
            msg += f", got {got}"
        super().__init__(msg)
