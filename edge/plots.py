"""PNG plots through matplotlib, imported lazily: the device core does not require it."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from edge.files import atomic_write_bytes

Series = dict[str, tuple[list[float], list[float]]]


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        print("note: matplotlib is not installed, so no PNG plot (pip install 'fer-edge[plot]')", file=sys.stderr)
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, plt, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def line_plot(path: str | Path, title: str, xlabel: str, panels: dict[str, Series]) -> bool:
    """One panel per entry, each with named (x, y) series; returns False when matplotlib is absent."""
    plt = _pyplot()
    if plt is None:
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (name, series) in zip(axes[0], panels.items()):
        for label, (x, y) in series.items():
            ax.plot(x, y, marker="o", markersize=3, label=label)
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    _save(fig, plt, Path(path))
    return True


def confusion_plot(path: str | Path, matrix, labels: list[str], title: str) -> bool:
    """Row-normalized confusion matrix with raw counts in each cell."""
    import numpy as np

    plt = _pyplot()
    if plt is None:
        return False
    m = np.asarray(matrix, dtype=float)
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{int(m[i, j])}\n{norm[i, j]:.0%}", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title)
    _save(fig, plt, Path(path))
    return True


def scatter_plot(path: str | Path, title: str, xlabel: str, ylabel: str,
                 points: list[tuple[str, float, float]]) -> bool:
    """Labelled points, e.g. accuracy against frames per second for each model variant."""
    plt = _pyplot()
    if plt is None:
        return False
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for label, x, y in points:
        ax.scatter([x], [y])
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    _save(fig, plt, Path(path))
    return True
