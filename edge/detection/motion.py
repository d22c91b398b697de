"""Where the picture changed since the last frame, on a coarse grid: what tells a spread search (spread.py) where a
new face may have come in, the way Frigate runs its detector only where there is motion.

A cell is one CELL x CELL block of frame pixels, compared as its mean grey level, so sensor noise and compression
grain average out; a walker's head moving a few pixels changes the cells along its edges.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..geometry import Box

CELL = 8  # frame pixels a side per cell: a 20 px face (the least the tiles find) spans two or three
CHANGE = 12  # grey levels a cell's mean must move by to count as motion (noise after 8x8 averaging is 1-3)
# A followed face explains the motion of its head and the body under it: this many face widths wide, from half a face
# height above it to this many heights below (a walker's shoulders and coat move with the face).
BODY_WIDTHS = 3.0
BODY_HEIGHTS = 4.0


def cells(image: np.ndarray) -> np.ndarray:
    """The frame's mean grey per CELL x CELL block (float32, rows x cols); a partial block at an edge is dropped.
    A bilinear shrink to twice the grid first (0.5 ms at 1080p, against 2 ms for INTER_AREA all the way): it reads
    about a quarter of the pixels, which changes a cell's mean by little."""
    h, w = image.shape[:2]
    rows, cols = h // CELL, w // CELL
    half = cv2.resize(image[:rows * CELL, :cols * CELL], (cols * 2, rows * 2), interpolation=cv2.INTER_LINEAR)
    small = cv2.resize(half, (cols, rows), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    return grey.astype(np.float32)


def changed(before: np.ndarray | None, after: np.ndarray, threshold: float = CHANGE) -> np.ndarray:
    """A boolean mask of the cells whose mean moved by more than `threshold` (all False without a `before`)."""
    if before is None or before.shape != after.shape:
        return np.zeros(after.shape, bool)
    out: np.ndarray = np.abs(after - before) > threshold
    return out


def explained(shape: tuple[int, ...], shown: Sequence[Box]) -> np.ndarray:
    """The cells (a `cells` grid's shape) whose motion a followed face accounts for: its head and the body under it
    (BODY_WIDTHS, BODY_HEIGHTS)."""
    out = np.zeros(shape[:2], bool)
    rows, cols = out.shape
    for b in shown:
        cx, w, h = (b.x1 + b.x2) / 2, b.width, b.height
        x1, x2 = (cx - w * BODY_WIDTHS / 2) / CELL, (cx + w * BODY_WIDTHS / 2) / CELL
        y1, y2 = (b.y1 - h / 2) / CELL, (b.y2 + h * BODY_HEIGHTS) / CELL
        c1, c2 = max(0, int(np.floor(x1))), min(cols, int(np.ceil(x2)))
        r1, r2 = max(0, int(np.floor(y1))), min(rows, int(np.ceil(y2)))
        if c2 > c1 and r2 > r1:
            out[r1:r2, c1:c2] = True
    return out


def explain(mask: np.ndarray, shown: Sequence[Box]) -> np.ndarray:
    """`mask` less the cells a followed face accounts for (`explained`)."""
    out: np.ndarray = mask & ~explained(mask.shape, shown)
    return out


def count_changed(before: np.ndarray | None, after: np.ndarray, free: np.ndarray,
                  rect: tuple[float, float, float, float], threshold: float = CHANGE) -> int:
    """Cells inside a frame-pixel rectangle (x1, y1, x2, y2) that changed from `before` to `after` where `free` (no
    followed face explains them); 0 without a `before`."""
    if before is None or before.shape != after.shape:
        return 0
    r1, r2, c1, c2 = _span(rect)
    return int((changed(before[r1:r2, c1:c2], after[r1:r2, c1:c2], threshold) & free[r1:r2, c1:c2]).sum())


def _span(rect: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    """A frame-pixel rectangle's rows r1:r2 and columns c1:c2 in cells."""
    x1, y1, x2, y2 = rect
    return max(0, int(y1 // CELL)), int(np.ceil(y2 / CELL)), max(0, int(x1 // CELL)), int(np.ceil(x2 / CELL))
