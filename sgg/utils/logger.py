"""Logging set-up: console on rank 0, ``log.txt`` in the output folder on rank 0."""

from __future__ import annotations

import logging
import os
import sys
from typing import Optional

__all__ = ["setup_logger"]

_FMT = "[%(asctime)s %(name)s %(levelname)s] %(message)s"
_DATEFMT = "%m/%d %H:%M:%S"


def setup_logger(
    output: Optional[str] = None, distributed_rank: int = 0, name: str = "sgg", level: int = logging.INFO
) -> logging.Logger:
    """Configure logger ``name`` (default: the whole ``sgg`` package) and return it.

    Rank 0 logs to stdout and, when ``output`` is given, to ``output`` itself if it ends with
    ``.txt``/``.log`` or else to ``output/log.txt`` (appended, so a resumed run keeps its history).
    Other ranks log warnings and errors only, to stderr. Calling it again replaces the handlers
    installed by the previous call.
    """
    logger = logging.getLogger(name)
    logger.setLevel(level)
    logger.propagate = False
    for h in list(logger.handlers):
        if getattr(h, "_sgg_handler", False):
            logger.removeHandler(h)
            h.close()
    formatter = logging.Formatter(_FMT, datefmt=_DATEFMT)

    console = logging.StreamHandler(sys.stdout if distributed_rank == 0 else sys.stderr)
    console.setLevel(level if distributed_rank == 0 else logging.WARNING)
    console.setFormatter(formatter)
    console._sgg_handler = True  # type: ignore[attr-defined]
    logger.addHandler(console)

    if output is not None and distributed_rank == 0:
        path = output if output.endswith((".txt", ".log")) else os.path.join(output, "log.txt")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fh = logging.FileHandler(path, mode="a", encoding="utf-8")
        fh.setLevel(level)
        fh.setFormatter(formatter)
        fh._sgg_handler = True  # type: ignore[attr-defined]
        logger.addHandler(fh)
    return logger
