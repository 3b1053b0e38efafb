"""Text, JSON and chart output of the evaluators (SGB's log line format, atomic files)."""
from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..utils.io import atomic_path

__all__ = ["json_ready", "plot_per_predicate", "sgb_details", "sgb_line", "write_json_atomic"]

logger = logging.getLogger(__name__)


def sgb_line(label: str, ks: Sequence[int], values: Sequence[float], mode: str, kind: str) -> str:
    """One SGB summary line, e.g. ``SGG eval:     R @ 20: 0.4363; ...  for mode=predcls, type=Recall(Main).``

    ``label`` is the padded metric prefix exactly as SGB prints it (``"    R"``, ``" ng-R"``,
    ``"   zR"``, ``"ng-zR"``, ``"   mR"``, ``"ng-mR"``, ``"    A"``).
    """
    text = "SGG eval: "
    for k, v in zip(ks, values):
        text += "%s @ %d: %.4f; " % (label, k, float(v))
    return text + " for mode=%s, type=%s.\n" % (mode, kind)


def sgb_details(names: Sequence[str], values: Sequence[float]) -> str:
    """SGB's per-predicate detail block (values at the largest K)."""
    text = "----------------------- Details ------------------------\n"
    for n, r in zip(names, values):
        text += f"({n!s}:{float(r):.4f}) "
    return text + "\n--------------------------------------------------------\n"


def json_ready(obj: Any) -> Any:
    """Convert numpy values to Python ones and NaN/inf to ``None`` (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_ready(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def write_json_atomic(path: str, data: dict[str, Any], overwrite: bool = True) -> str:
    """Write ``data`` as strict JSON via a temp file + ``os.replace``; returns the path.

    With ``overwrite=False`` an existing file raises ``FileExistsError``.
    """
    path = os.path.abspath(path)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; refusing to overwrite it (pass overwrite=True / --overwrite)")
    with atomic_path(path, suffix=".json") as tmp, open(tmp, "w") as f:
        json.dump(json_ready(data), f, indent=1, allow_nan=False)
        f.write("\n")
    return path


def plot_per_predicate(path: str, names: Sequence[str], values: Sequence[float], title: str,
                       ylabel: str = "recall") -> str | None:
    """Bar chart of one value per predicate (matplotlib Agg), written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.22 * len(names) + 2), 4.0))
    ax.bar(np.arange(len(names)), np.nan_to_num(np.asarray(values, dtype=float)), color="#4c72b0")
    ax.set_xticks(np.arange(len(names)))
    ax.set_xticklabels([str(n) for n in names], rotation=90, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)
    return path
