"""Small reusable charts (matplotlib, no pyplot state), saved atomically as PNG."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .atomic import atomic_output

__all__ = ["bar_chart", "plot_per_predicate_recall", "save_figure"]


def save_figure(fig: Figure, out_path: str | os.PathLike, *, dpi: int | None = None,
                overwrite: bool = False) -> Path:
    """Write ``fig`` as PNG to ``out_path`` atomically (refuses to replace a file unless ``overwrite``)."""
    with atomic_output(out_path, overwrite=overwrite, binary=True) as handle:
        fig.savefig(handle, format="png", dpi=dpi if dpi is not None else fig.dpi)
    return Path(out_path)


def bar_chart(
    values: Mapping[str, float],
    out_path: str | os.PathLike,
    title: str = "",
    *,
    ylabel: str = "",
    mean_line: bool = True,
    overwrite: bool = False,
    dpi: int = 100,
) -> Path:
    """Vertical bars of ``name -> value`` in the given order, with the mean as a dashed line.

    The figure widens with the number of bars so that the rotated names stay readable.
    """
    if not values:
        raise ValueError(f"{out_path}: nothing to plot (empty values)")
    names = [str(k) for k in values]
    heights = np.array([float(v) for v in values.values()], dtype=np.float64)
    if not np.isfinite(heights).all():
        bad = names[int(np.argwhere(~np.isfinite(heights))[0, 0])]
        raise ValueError(f"{out_path}: value of '{bad}' is not finite")
    fig = Figure(figsize=(max(6.0, 0.28 * len(names) + 1.5), 4.5), dpi=dpi)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(names))
    ax.bar(x, heights, color="tab:blue", width=0.8)
    if mean_line:
        mean = float(heights.mean())
        ax.axhline(mean, color="tab:red", linestyle="--", linewidth=1.2, label=f"mean = {mean:.4g}")
        ax.legend(loc="upper left", fontsize=8)
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=70, ha="right", fontsize=8)
    ax.set_xlim(-0.6, len(names) - 0.4)
    top = float(heights.max())
    ax.set_ylim(min(0.0, float(heights.min())), top * 1.15 if top > 0 else 1.0)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, out_path, overwrite=overwrite)


def plot_per_predicate_recall(
    recalls: Mapping[str, float],
    out_path: str | os.PathLike,
    title: str = "Per-predicate recall",
    *,
    ylabel: str = "Recall",
    overwrite: bool = False,
) -> Path:
    """Bar chart of ``predicate name -> recall`` (order kept, e.g. by training frequency); the dashed line is mR."""
    return bar_chart(recalls, out_path, title, ylabel=ylabel, mean_line=True, overwrite=overwrite)
