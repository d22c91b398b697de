"""PNG plots through matplotlib, imported lazily: the device core does not require it."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

from .files import atomic_write_bytes, printable

Series = dict[str, tuple[list[float], list[float]]]


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, or None when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        print("note: matplotlib is not installed, so no PNG plot (pip install 'fer-edge[plot]')", file=sys.stderr)
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, plt: Any, path: Path, text: dict[str, str] | None = None) -> None:
    """Write the figure atomically; `text` goes into tEXt chunks (facts about the plot a program can read back)."""
    from matplotlib.text import Text

    for artist in fig.findobj(Text):  # titles and labels that carry a model's file name
        artist.set_text(printable(artist.get_text()))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    png = buf.getvalue()
    for key, value in (text or {}).items():
        png = _with_text_chunk(png, key, value)
    atomic_write_bytes(path, png)


def _with_text_chunk(png: bytes, key: str, value: str) -> bytes:
    """Insert a tEXt chunk right after IHDR (8-byte signature, then IHDR's 4+4+13+4 bytes)."""
    import struct
    import zlib

    body = key.encode("latin-1") + b"\0" + value.encode("latin-1", "backslashreplace")  # tEXt is Latin-1
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body) & 0xFFFFFFFF)
    end = 8 + 4 + 4 + 13 + 4
    return png[:end] + chunk + png[end:]


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
