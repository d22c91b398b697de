"""PNG plots through matplotlib, imported lazily: the device core does not require it."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

from ..files import atomic_write_bytes, printable

log = logging.getLogger(__name__)

Series = dict[str, tuple[list[float], list[float]]]


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, or None when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        log.info("matplotlib is not installed, so no PNG plot (pip install 'fer-edge[plot]')")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, plt: Any, path: Path, text: dict[str, str] | None = None) -> None:
    """Write the figure atomically; `text` goes into the PNG's text chunks (facts about the plot a program can read
    back), written by matplotlib's `metadata`: tEXt for Latin-1, iTXt otherwise."""
    from matplotlib.text import Text

    for artist in fig.findobj(Text):  # titles and labels that carry a model's file name
        artist.set_text(printable(artist.get_text()))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata=text)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())  # rendered in memory first: a failed plot leaves no half file


def line_plot(path: str | Path, title: str, xlabel: str, panels: dict[str, Series]) -> bool:
    """One panel per entry, each with named (x, y) series; returns False when matplotlib is absent."""
    plt = pyplot()
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
    save_png(fig, plt, Path(path))
    return True


def confusion_plot(path: str | Path, matrix: Any, labels: list[str], title: str) -> bool:
    """Row-normalized confusion matrix with raw counts in each cell."""
    import numpy as np

    plt = pyplot()
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
    save_png(fig, plt, Path(path))
    return True
